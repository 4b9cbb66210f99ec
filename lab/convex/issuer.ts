// The lab's JWT issuer: one RS256 key pair, its JWKS, and tokens for whoever a test names. It
// stands in for the deployment's auth provider (Clerk, Auth0...); the stand-in checks its tokens
// the way convex/auth.config.ts tells Convex to.
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

export interface TokenOptions {
  /** `aud`; default "convex" (convex/auth.config.ts's default application id). */
  audience?: string;
  /** Lifetime in seconds (default 1 h); negative for an expired token. */
  expiresIn?: number;
  /** Signed by a key the issuer does not publish: a forged token. */
  forged?: boolean;
  email?: string;
}

export interface TestIssuer {
  /** The `iss` of every token, and where `/.well-known/jwks.json` is served (by the caller). */
  url: string;
  jwks(): { keys: JWK[] };
  token(subject: string, opts?: TokenOptions): Promise<string>;
}

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export async function testIssuer(url: string): Promise<TestIssuer> {
  const kid = `lab-${crypto.randomUUID().slice(0, 8)}`;
  const keys: KeyPair = await generateKeyPair("RS256", { extractable: true });
  let stranger: KeyPair | undefined;
  const publicJwk = { ...(await exportJWK(keys.publicKey)), kid, alg: "RS256", use: "sig" };
  return {
    url,
    jwks: () => ({ keys: [publicJwk] }),
    async token(subject, opts = {}) {
      const signer = opts.forged ? (stranger ??= await generateKeyPair("RS256")) : keys;
      const now = Math.floor(Date.now() / 1000);
      return await new SignJWT(opts.email ? { email: opts.email } : {})
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(url)
        .setSubject(subject)
        .setAudience(opts.audience ?? "convex")
        .setIssuedAt(now)
        .setExpirationTime(now + (opts.expiresIn ?? 3600))
        .sign(signer.privateKey);
    },
  };
}
