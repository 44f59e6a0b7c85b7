import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { eventually } from './eventually';

/** A browser to drive: its executable and the flags its build needs. */
export interface Browser {
  path: string;
  source: 'CHROMIUM_PATH' | '@sparticuz/chromium' | 'system';
  args: string[];
}

const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * The browser the suites use: CHROMIUM_PATH when set, else the Chromium that the
 * `@sparticuz/chromium` devDependency ships inside its npm package (unpacked to the temp folder on
 * first use), else Debian's. Browser suites fail, never skip, when none can be had.
 */
export async function findBrowser(): Promise<Browser> {
  if (process.env.CHROMIUM_PATH) return { path: process.env.CHROMIUM_PATH, source: 'CHROMIUM_PATH', args: [] };
  const packaged = await packagedChromium().catch((error: Error) => error);
  if (typeof packaged === 'string' && existsSync(packaged)) {
    // A headless-shell build for serverless hosts: no zygote, one process, no GPU.
    return {
      path: packaged,
      source: '@sparticuz/chromium',
      args: ['--headless=shell', '--no-zygote', '--single-process'],
    };
  }
  if (existsSync(SYSTEM_CHROMIUM)) return { path: SYSTEM_CHROMIUM, source: 'system', args: ['--headless=new'] };
  throw new Error(
    `No browser: @sparticuz/chromium could not be unpacked (${String(packaged)}) and ${SYSTEM_CHROMIUM} is absent; run npm ci or set CHROMIUM_PATH`,
  );
}

/** The package is ESM only, which Jest's CommonJS runtime cannot load on Node 20: ask a child node. */
async function packagedChromium(): Promise<string> {
  const script =
    "const { default: c } = await import('@sparticuz/chromium'); process.stdout.write(await c.executablePath());";
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 60_000,
  });
  return stdout.trim();
}

export interface PageVisit {
  /** Cookies set for the page's origin before it loads (the session cookie). */
  cookies?: Record<string, string>;
  /** Headers sent with every request of the page (`Authorization`). */
  headers?: Record<string, string>;
  /** Texts the rendered page must show; the screenshot is taken once all of them are there. */
  waitForText: string[];
  /** Texts that must be gone first (loading indicators). */
  untilGone?: string[];
  /** Where the PNG is written (its folder is created). */
  screenshot: string;
  timeoutMs?: number;
}

export interface PageReport {
  /** `document.body.innerText` once every awaited text was there. */
  text: string;
  /** Console errors, uncaught exceptions, failed loads and CSP violations, in order. */
  errors: string[];
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

interface RemoteObject {
  value?: unknown;
  description?: string;
}

/** The page events that report a problem, as one line each. */
function complaintOf({ method, params }: CdpMessage): string | undefined {
  if (method === 'Runtime.consoleAPICalled') {
    const { type, args } = params as { type: string; args: RemoteObject[] };
    if (type === 'error' || type === 'assert') {
      return `console.${type}: ${args.map((arg) => String(arg.value ?? arg.description)).join(' ')}`;
    }
  } else if (method === 'Runtime.exceptionThrown') {
    const { exceptionDetails } = params as { exceptionDetails: { text: string; exception?: RemoteObject } };
    return `exception: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`;
  } else if (method === 'Log.entryAdded') {
    // CSP violations arrive here (source `security`), as do failed loads (source `network`).
    const { entry } = params as { entry: { level: string; source: string; text: string; url?: string } };
    if (entry.level === 'error') return `${entry.source}: ${entry.text}${entry.url ? ` (${entry.url})` : ''}`;
  }
  return undefined;
}

/**
 * Chrome DevTools Protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out, messages ended by
 * NUL): no port to discover and no WebSocket client, which Node 20 lacks.
 */
class CdpPipe {
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();

  constructor(
    private readonly input: Writable,
    output: Readable,
    private readonly onEvent: (message: CdpMessage) => void,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf('\0'); end >= 0; end = this.buffer.indexOf('\0')) {
        this.dispatch(JSON.parse(this.buffer.slice(0, end)) as CdpMessage);
        this.buffer = this.buffer.slice(end + 1);
      }
    });
    output.on('close', () => {
      for (const { reject } of this.pending.values()) reject(new Error('Chromium closed the DevTools pipe'));
      this.pending.clear();
    });
  }

  send<T>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (result) => resolve(result as T), reject });
      this.input.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    });
  }

  private dispatch(message: CdpMessage): void {
    const waiting = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!waiting) return this.onEvent(message);
    this.pending.delete(message.id!);
    if (message.error) waiting.reject(new Error(`CDP: ${message.error.message}`));
    else waiting.resolve(message.result ?? {});
  }
}

/**
 * Opens `url` in headless Chromium with the given session, waits for the texts, saves a
 * screenshot and reports what the page complained about. Chromium and its profile folder are
 * removed whatever happens.
 */
export async function visitPage(url: string, visit: PageVisit): Promise<PageReport> {
  const browser = await findBrowser();
  const profile = await mkdtemp(join(tmpdir(), 'bo-chromium-'));
  const chromium = spawn(
    browser.path,
    [
      ...browser.args,
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      // This machine's network is closed: no background fetches, updates or sync.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    // Its own process group, so the renderer and helper processes end with it.
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
  );
  let stderr = '';
  chromium.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const errors: string[] = [];
  const cdp = new CdpPipe(chromium.stdio[3] as Writable, chromium.stdio[4] as Readable, (event) => {
    const complaint = complaintOf(event);
    if (complaint) errors.push(complaint);
  });
  try {
    const exited = new Promise<never>((_resolve, reject) =>
      chromium.once('exit', (code) => reject(new Error(`Chromium exited (${code}): ${stderr}`))),
    );
    return await Promise.race([exited, drive(cdp, url, visit, errors)]);
  } finally {
    await stop(chromium, cdp);
    await rm(profile, { recursive: true, force: true });
  }
}

async function drive(cdp: CdpPipe, url: string, visit: PageVisit, errors: string[]): Promise<PageReport> {
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  const page = <T = unknown>(method: string, params: object = {}) => cdp.send<T>(method, params, sessionId);
  await Promise.all(['Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable'].map((method) => page(method)));
  await page('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  for (const [name, value] of Object.entries(visit.cookies ?? {})) {
    await page('Network.setCookie', { name, value, url, httpOnly: true, sameSite: 'Lax' });
  }
  if (visit.headers) await page('Network.setExtraHTTPHeaders', { headers: visit.headers });
  const navigation = await page<{ errorText?: string }>('Page.navigate', { url });
  if (navigation.errorText) throw new Error(`Navigation to ${url} failed: ${navigation.errorText}`);

  const read = async () => {
    const { result } = await page<{ result: { value: { ready: boolean; text: string } } }>('Runtime.evaluate', {
      expression: `({ ready: document.readyState === 'complete', text: document.body ? document.body.innerText : '' })`,
      returnByValue: true,
    });
    return result.value;
  };
  const shows = ({ ready, text }: { ready: boolean; text: string }) =>
    ready &&
    visit.waitForText.every((wanted) => text.includes(wanted)) &&
    !visit.untilGone?.some((gone) => text.includes(gone));
  const state = await eventually(read, shows, visit.timeoutMs ?? 15_000, 100);
  if (!shows(state)) {
    throw new Error(
      `${url} did not show ${JSON.stringify(visit.waitForText)} without ${JSON.stringify(visit.untilGone ?? [])}; it shows:\n${state.text}\nerrors:\n${errors.join('\n')}`,
    );
  }
  const { data } = await page<{ data: string }>('Page.captureScreenshot', { format: 'png' });
  await mkdir(dirname(visit.screenshot), { recursive: true });
  await writeFile(visit.screenshot, Buffer.from(data, 'base64'));
  return { text: state.text, errors: [...errors] };
}

/**
 * `Browser.close` lets Chromium end and reap its helper processes; if it does not within 5 s, the
 * whole process group is killed.
 */
async function stop(chromium: ChildProcess, cdp: CdpPipe): Promise<void> {
  if (chromium.exitCode === null && chromium.signalCode === null) {
    const exited = new Promise((resolve) => chromium.once('exit', resolve));
    cdp.send('Browser.close').catch(() => undefined);
    const timer = setTimeout(() => {
      try {
        process.kill(-chromium.pid!, 'SIGKILL');
      } catch {
        // The group ended meanwhile.
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  }
  for (const stream of chromium.stdio) stream?.destroy();
}
