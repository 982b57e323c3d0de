// The page's side of the engine's messages (protocol.ts): send a request, await its answer or its error,
// and hand every reply to the step modules that listen for it (progress, pause, plan). Where the engine
// runs (a Web Worker or the page) is device.ts's business: it connects the sender once it has one.
import type { Reply, Request } from './protocol.ts';

let sender: (req: Request) => void = () => undefined;
const waiters: ((r: Reply) => boolean)[] = [];
const listeners: ((r: Reply) => void)[] = [];

/** Where requests go from now on. */
export function connect(to: (req: Request) => void): void {
  sender = to;
}

export function send(req: Request): void {
  sender(req);
}

/** Every reply, after the calls awaiting one have taken theirs. */
export function listen(listener: (r: Reply) => void): void {
  listeners.push(listener);
}

/** A reply from the engine: it settles the call waiting for it, then every listener sees it. */
export function receive(r: Reply): void {
  for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i](r)) waiters.splice(i, 1);
  for (const l of listeners) l(r);
}

function until<T extends Reply['type']>(type: T, during: Request['type']): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => waiters.push((r) => {
    if (r.type === type) return resolve(r as Extract<Reply, { type: T }>), true;
    if (r.type === 'error' && r.during === during) return reject(Object.assign(new Error(r.message), { name: r.name })), true;
    return false;
  }));
}

/** Sends a request and waits for its answer (or its error). */
export function call<T extends Reply['type']>(req: Request, type: T): Promise<Extract<Reply, { type: T }>> {
  const answer = until(type, req.type);
  send(req);
  return answer;
}
