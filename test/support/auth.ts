import { randomBytes } from 'node:crypto';

export interface SignedIn {
  userId: string;
  email: string;
  password: string;
  token: string;
  /** `Authorization: Bearer …` for fetch. */
  auth: Record<string, string>;
  /** The Set-Cookie header of the login response. */
  setCookie: string;
}

const json = { 'content-type': 'application/json' };

/** Registers a fresh user with the role and logs in. */
export async function signUp(
  url: string,
  role: 'customer' | 'organizer' = 'customer',
  headers: Record<string, string> = {},
): Promise<SignedIn> {
  const email = `user-${randomBytes(6).toString('hex')}@example.com`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const registered = await fetch(`${url}/auth/register`, {
    method: 'POST',
    headers: { ...json, ...headers },
    body: JSON.stringify({ email, password, role }),
  });
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`);
  const { id } = await registered.json();
  return { userId: id, email, password, ...(await logIn(url, email, password, headers)) };
}

export async function logIn(
  url: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<{ token: string; auth: Record<string, string>; setCookie: string }> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { ...json, ...headers },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  const { token } = await res.json();
  return { token, auth: { authorization: `Bearer ${token}` }, setCookie: res.headers.get('set-cookie') ?? '' };
}
