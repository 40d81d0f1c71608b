import t from 'tap';
import { isValidPasswordHash } from '../../../config/password-hash-format.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from '../../../authz/oauth/users/password-hash.js';

const PHC_SHAPE = /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

t.test('round trip', async (t) => {
  const phc = await hashPassword('correct horse battery staple');
  t.match(phc, PHC_SHAPE, 'PHC string with 16-byte salt and 32-byte key');
  t.ok(isValidPasswordHash(phc));
  t.equal(await verifyPassword('correct horse battery staple', phc), true);
});

t.test('wrong password', async (t) => {
  const phc = await hashPassword('s3cret-pass');
  t.equal(await verifyPassword('s3cret-Pass', phc), false);
  t.equal(await verifyPassword('', phc), false);
  t.equal(await verifyPassword('s3cret-pass ', phc), false);
});

t.test('unicode passwords are normalised so the same typed text verifies', async (t) => {
  const composed = 'caf\u00e9';
  const decomposed = 'cafe\u0301';
  const phc = await hashPassword(composed);
  t.equal(await verifyPassword(decomposed, phc), true);
});

t.test('two hashes of the same password differ', async (t) => {
  const a = await hashPassword('same');
  const b = await hashPassword('same');
  t.not(a, b);
  t.equal(await verifyPassword('same', a), true);
  t.equal(await verifyPassword('same', b), true);
});

t.test('malformed hashes are refused with false', async (t) => {
  const good = await hashPassword('pw');
  const [, , params, salt, hash] = good.split('$');
  const malformed: unknown[] = [
    '',
    'pw',
    undefined,
    null,
    42,
    '$2b$10$abcdefghijklmnopqrstuu1234567890123456789012345678901', // bcrypt
    `$argon2id$v=19$m=65536,t=3,p=4$${salt}$${hash}`,
    `$scrypt$${params}$${salt}`, // no hash
    `$scrypt$${params}$${salt}$${hash}$`, // trailing separator
    `$scrypt$ln=15,r=8$${salt}$${hash}`, // missing p
    `$scrypt$ln=10,r=8,p=1$${salt}$${hash}`, // too weak
    `$scrypt$ln=31,r=8,p=1$${salt}$${hash}`, // absurd cost
    `$scrypt$ln=15,r=0,p=1$${salt}$${hash}`,
    `$scrypt$ln=15,r=8,p=0$${salt}$${hash}`,
    `$scrypt$${params}$${salt}==$${hash}`, // padded base64
    `$scrypt$${params}$${salt}$${hash!.replace(/[+/]/g, '-')}-`, // base64url characters
    `$scrypt$${params}$AAAA$${hash}`, // salt too short
    `$scrypt$${params}$${salt}$AAAAAAAA`, // key too short
    ` ${good}`,
  ];
  for (const phc of malformed) {
    t.equal(isValidPasswordHash(phc as string), false, `isValidPasswordHash(${JSON.stringify(phc)})`);
    t.equal(await verifyPassword('pw', phc as string), false, `verifyPassword(${JSON.stringify(phc)})`);
  }
});

t.test('verifyAgainstDummy always fails and costs about as much as a real verification', async (t) => {
  const phc = await hashPassword('real');
  const startReal = performance.now();
  await verifyPassword('wrong', phc);
  const realMs = performance.now() - startReal;

  const startDummy = performance.now();
  t.equal(await verifyAgainstDummy('anything'), false);
  t.equal(await verifyAgainstDummy(''), false);
  const dummyMs = (performance.now() - startDummy) / 2;

  // A dummy that skipped the key derivation would take well under a millisecond.
  t.ok(dummyMs > realMs / 4, `dummy ${dummyMs.toFixed(1)} ms vs real ${realMs.toFixed(1)} ms`);
});
