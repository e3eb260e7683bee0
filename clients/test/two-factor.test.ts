/**
 * Two-factor sign-in through the kit: the password alone is refused with
 * `TWO_FACTOR_REQUIRED` and a challenge (no tokens kept), and the challenge with a
 * TOTP code signs in, in the session and in both frameworks' auth providers.
 */

import { createHmac } from "node:crypto";

import { describe, expect, test } from "vitest";

import { ApiError } from "../src/core/errors";
import { TWO_FACTOR_REQUIRED } from "../src/core/session";
import { type ApiHttpError, createReactAdminProviders } from "../src/react-admin";
import { type ApiRefineError, createRefineProviders } from "../src/refine";
import { createAccount, newSession, signedInAdmin } from "./support/api";

/** A TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps from now. */
function totp(secret: string, offset = 0): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret].map((char) => alphabet.indexOf(char).toString(2).padStart(5, "0")).join("");
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + offset));
  const digest = createHmac("sha1", key).update(counter).digest();
  const at = digest[digest.length - 1]! & 0xf;
  return String((digest.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** A new account with two-factor sign-in on (confirmed with the previous step's code). */
async function enrolledAccount() {
  const admin = await signedInAdmin();
  const account = await createAccount(admin.session);
  const { session } = newSession();
  await session.login(account.email, account.password);
  const { data } = await session.request<{ secret: string }>({
    method: "POST",
    path: "/users/me/two-factor",
    body: { currentPassword: account.password },
  });
  await session.request({ method: "POST", path: "/users/me/two-factor/confirm", body: { code: totp(data.secret, -1) } });
  return { ...account, secret: data.secret };
}

describe("two-factor sign-in", () => {
  test("the session: a challenge first, then the code", async () => {
    const account = await enrolledAccount();
    const { session } = newSession();
    const error = await session.login(account.email, account.password).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 202, code: TWO_FACTOR_REQUIRED });
    expect(session.hasSession()).toBe(false);
    const challengeToken = String((error as ApiError).body?.["challengeToken"]);
    await session.loginWithCode(challengeToken, totp(account.secret));
    expect(session.hasSession()).toBe(true);
    expect((await session.getUser()).email).toBe(account.email);
  });

  test("react-admin and Refine: login({ challengeToken, code })", async () => {
    const account = await enrolledAccount();
    const ra = createReactAdminProviders({ session: newSession().session }).authProvider;
    const refused = (await ra.login({ username: account.email, password: account.password }).catch((e: unknown) => e)) as ApiHttpError;
    expect(refused).toMatchObject({ status: 202, code: TWO_FACTOR_REQUIRED });
    const wrong = (await ra
      .login({ challengeToken: refused.body.challengeToken, code: "000000" })
      .catch((e: unknown) => e)) as ApiHttpError;
    expect(wrong).toMatchObject({ status: 401, code: "TWO_FACTOR_CODE_INVALID" });
    await ra.login({ challengeToken: refused.body.challengeToken, code: totp(account.secret) });

    const refine = createRefineProviders({ session: newSession().session }).authProvider;
    const first = await refine.login({ email: account.email, password: account.password });
    const error = first.error as ApiRefineError;
    expect(error).toMatchObject({ code: TWO_FACTOR_REQUIRED });
    const challengeToken = String((error.body as Record<string, unknown> | null)?.["challengeToken"]);
    const done = await refine.login({ challengeToken, code: totp(account.secret, 1) });
    expect(done.success).toBe(true);
  });
});
