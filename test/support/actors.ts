import type { TestApp } from './test-app';

export interface Session {
  accessToken: string;
  refreshToken: string;
  userId: string;
  contactId: string;
  email: string;
  auth: { Authorization: string };
}

let counter = 0;

/** A unique, valid registration body. */
export function newPerson(prefix = 'person') {
  counter += 1;
  const tag = `${prefix}${counter}${Date.now().toString(36)}`;
  return { firstName: 'Test', lastName: tag, email: `${tag}@example.com`, password: 'a-long-enough-password', phone: '+1 555 0100' };
}

export function sessionFrom(body: { accessToken: string; refreshToken: string; user: { id: string; contactId: string; email: string } }): Session {
  return {
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    userId: body.user.id,
    contactId: body.user.contactId,
    email: body.user.email,
    auth: { Authorization: `Bearer ${body.accessToken}` },
  };
}

/**
 * Signs a new person up: the first account of the app is signed in at once (and made admin);
 * later ones confirm their address with the mailed link, as a person would.
 */
export async function register(t: TestApp, prefix = 'person'): Promise<Session> {
  return signUp(t, newPerson(prefix));
}

export async function signUp(t: TestApp, person: ReturnType<typeof newPerson>): Promise<Session> {
  const response = await t.http.post('/api/v1/auth/register').send(person);
  if (response.status === 201) return sessionFrom(response.body);
  if (response.status !== 202) throw new Error(`Sign-up answered ${response.status}: ${JSON.stringify(response.body)}`);
  const token = await signUpTokenFor(t, person.email);
  return sessionFrom((await t.http.post('/api/v1/auth/register/confirm').send({ token, password: person.password }).expect(201)).body);
}

/** The token of the newest sign-up confirmation mailed to `email` (read from the outbox table: no admin needed). */
export async function signUpTokenFor(t: TestApp, email: string, attempts = 50): Promise<string> {
  for (let i = 0; i < attempts; i += 1) {
    const [mail] = (await t.db.query(
      `SELECT text_body FROM mail_outbox WHERE lower(to_address) = lower($1) AND template = 'sign-up-confirm' ORDER BY created_at DESC LIMIT 1`,
      [email],
    )) as Array<{ text_body: string }>;
    const token = mail && tokenIn(mail.text_body);
    if (token) return token;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`No sign-up confirmation reached ${email}`);
}

export async function login(t: TestApp, email: string, password = 'a-long-enough-password'): Promise<Session> {
  const response = await t.http.post('/api/v1/auth/login').send({ email, password }).expect(200);
  return sessionFrom(response.body);
}

/** Creates a user with the given roles through the admin API and signs them in. */
export async function createUserWithRoles(t: TestApp, admin: Session, roleIds: string[], prefix = 'user'): Promise<Session> {
  const person = newPerson(prefix);
  const created = await t.http
    .post('/api/v1/users')
    .set(admin.auth)
    .send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds, sendInvite: false })
    .expect(201);
  const { token } = await issueResetToken(t, admin, created.body.id, person.email);
  await t.http.post('/api/v1/auth/reset-password').send({ token, password: person.password }).expect(204);
  return login(t, person.email, person.password);
}

/** Asks for an admin-sent reset and reads the token from the outbox. */
export async function issueResetToken(t: TestApp, admin: Session, userId: string, email: string): Promise<{ token: string }> {
  await t.http.post(`/api/v1/users/${userId}/password-reset`).set(admin.auth).send({ mode: 'send' }).expect(202);
  return { token: await latestTokenFor(t, admin, email, 'password-reset') };
}

/** The token in the newest outbox message to `email`, of the given template if one is named. */
export async function latestTokenFor(t: TestApp, admin: Session, email: string, template?: string, attempts = 50): Promise<string> {
  for (let i = 0; i < attempts; i += 1) {
    const response = await t.http.get('/api/v1/mail/outbox').query({ to: email, limit: 20 }).set(admin.auth).expect(200);
    const mails = response.body.data as Array<{ template: string; textBody: string }>;
    const body = mails.find((mail) => template === undefined || mail.template === template)?.textBody;
    const token = body && tokenIn(body);
    if (token) return token;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`No mail with a token reached ${email}`);
}

/** The token a mail carries on its `Token:` line. */
function tokenIn(text: string): string | undefined {
  return /Token: (\S+)/.exec(text)?.[1];
}

export async function systemRoleId(t: TestApp, key: 'admin' | 'staff' | 'client'): Promise<string> {
  const rows: Array<{ id: string }> = await t.db.query('SELECT id FROM roles WHERE system_key = $1', [key]);
  return rows[0]!.id;
}
