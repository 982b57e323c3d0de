// One progress line on stderr for long work: count, rate and ETA, redrawn in place on a terminal and
// printed every few seconds otherwise (CI logs).
export function progressLine(what: string, unit: string) {
  const tty = process.stderr.isTTY;
  let last = 0;
  const fmt = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);
  return {
    update(done: number, total: number, tokensPerSecond: number, etaSeconds: number, extra = '') {
      const now = Date.now();
      if (done < total && now - last < (tty ? 200 : 5000)) return;
      last = now;
      const line = `${what}: ${done}/${total} ${unit} (${((100 * done) / total).toFixed(0)}%)${extra ? `, ${extra}` : ''}, ${tokensPerSecond.toFixed(0)} tokens/s, ETA ${fmt(Math.max(0, etaSeconds))}`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}
