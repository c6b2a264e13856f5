/** Identity: credentials (key + self-signed certificate), owner keys and trust. */
export {
  CERT_FILE,
  type CredentialFiles,
  type Credentials,
  certificateHash,
  type GenerateCredentialsOptions,
  generateCredentials,
  identityOfCredentials,
  KEY_FILE,
  loadCredentials,
  type SaveCredentialsOptions,
  saveCredentials,
  signCredentials,
  validateCredentials,
} from './credentials.js';
export {
  generateOwnerKey,
  loadOwnerKey,
  OWNER_SIGNATURE_OID,
  type OwnerKey,
  parseOwnerKey,
  saveOwnerKey,
} from './owner-keys.js';
export { identityOfCertificate } from './peer-identity.js';
export { type TrustPolicy, TrustSet } from './trust.js';
