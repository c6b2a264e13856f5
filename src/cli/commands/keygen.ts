import { isPeerpostError } from '../../errors.js';
import {
  CERT_FILE,
  generateCredentials,
  identityOfCredentials,
  KEY_FILE,
  saveCredentials,
} from '../../identity/credentials.js';
import { loadOwnerKey, type OwnerKey } from '../../identity/owner-keys.js';
import type { RegisterCommand } from '../context.js';

interface KeygenFlags {
  out: string;
  ownerKey?: string;
  commonName?: string;
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
    .action(async (flags: KeygenFlags) => {
      try {
        const ownerKeys: OwnerKey[] =
          flags.ownerKey === undefined ? [] : [await loadOwnerKey(flags.ownerKey)];
        const credentials = await generateCredentials({
          ownerKeys,
          commonName: flags.commonName ?? 'peerpost',
        });
        await saveCredentials(flags.out, credentials);
        const identity = identityOfCredentials(credentials);
        ctx.io.stdout.write(`${identity.certHash}\n`);
        for (const key of identity.ownerKeys) ctx.io.stderr.write(`signed by owner key ${key}\n`);
      } catch (err) {
        if (!isPeerpostError(err) && (err as { code?: unknown }).code === undefined) throw err;
        const code = isPeerpostError(err) ? err.code : (err as { code: string }).code;
        ctx.io.stderr.write(`error ${code}: ${(err as Error).message}\n`);
        ctx.setExitCode(1);
      }
    });
};
