import { join } from 'node:path';
import { isPeerpostError, PeerpostError } from '../../errors.js';
import {
  CERT_FILE,
  generateCredentials,
  identityOfCredentials,
  KEY_FILE,
  saveCredentials,
} from '../../identity/credentials.js';
import { loadOwnerKey, type OwnerKey } from '../../identity/owner-keys.js';
import type { RegisterCommand } from '../context.js';
import { reportError } from './node.js';

interface KeygenFlags {
  out: string;
  ownerKey?: string;
  commonName?: string;
  force?: boolean;
}

/** The owner key file, with errors that name it. */
async function ownerKeyFrom(file: string): Promise<OwnerKey> {
  try {
    return await loadOwnerKey(file);
  } catch (err) {
    if (isPeerpostError(err)) throw new PeerpostError(err.code, `${file}: ${err.message}`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw err;
    throw new PeerpostError('ERR_INVALID_OPTION', `--owner-key ${file}: cannot read: ${code}`, {
      cause: err,
    });
  }
}

export const registerKeygen: RegisterCommand = (program, ctx) => {
  program
    .command('keygen')
    .description(
      `write a new Ed25519 key (${KEY_FILE}) and self-signed certificate (${CERT_FILE}); print the identity hash`,
    )
    .requiredOption('--out <dir>', 'directory to write into (created if missing)')
    .option(
      '--owner-key <file>',
      'sign the certificate with this Ed25519 owner key (PKCS#8 PEM or 64 hex characters)',
    )
    .option('--common-name <name>', 'subject common name', 'peerpost')
    .option('--force', `replace the ${KEY_FILE} and ${CERT_FILE} already in <dir> (a new identity)`)
    .action(async (flags: KeygenFlags) => {
      try {
        const ownerKeys: OwnerKey[] =
          flags.ownerKey === undefined ? [] : [await ownerKeyFrom(flags.ownerKey)];
        const credentials = await generateCredentials({
          ownerKeys,
          commonName: flags.commonName ?? 'peerpost',
        });
        try {
          await saveCredentials(flags.out, credentials, { overwrite: flags.force === true });
        } catch (err) {
          if (isPeerpostError(err, 'ERR_INVALID_OPTION')) {
            throw new PeerpostError(
              'ERR_INVALID_OPTION',
              `${err.message}: keygen would replace the identity there; pass --force to replace it`,
              { cause: err },
            );
          }
          const e = err as NodeJS.ErrnoException;
          if (typeof e.code !== 'string') throw err;
          // mkdir answers EEXIST/ENOTDIR for a file on the way; a write 'wx' EEXIST (a key
          // file that appeared meanwhile) names that file.
          const problem =
            (e.code === 'EEXIST' && !e.path?.endsWith('.pem')) || e.code === 'ENOTDIR'
              ? `is not a directory (${e.code})`
              : `cannot write ${e.path ?? join(flags.out, KEY_FILE)} (${e.code})`;
          throw new PeerpostError('ERR_INVALID_OPTION', `--out ${flags.out} ${problem}`, { cause: err });
        }
        const identity = identityOfCredentials(credentials);
        ctx.io.stdout.write(`${identity.certHash}\n`);
        for (const key of identity.ownerKeys) ctx.io.stderr.write(`signed by owner key ${key}\n`);
      } catch (err) {
        reportError(ctx, err);
      }
    });
};
