// How the demo writes numbers and durations (sizes: formatBytes, as everywhere else).
export const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) < 0.001 ? v.toExponential(2) : v.toPrecision(3));
export const count = (n: number) => n.toLocaleString('en');
export const duration = (s: number) => (!Number.isFinite(s) ? '—' : s < 90 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);
export const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
export const when = (iso: string) => new Date(iso).toLocaleString();
