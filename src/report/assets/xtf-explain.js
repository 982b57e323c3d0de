(() => {
  const TH = JSON.parse(document.getElementById('xtf-data').textContent);
  const tip = document.getElementById('tip');
  const esc = (s) => s.replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  const fmt = (x) => x === null || !isFinite(x) ? '—' : x === 0 ? '0' : Math.abs(x) >= 0.01 ? String(+x.toFixed(4)) : x.toExponential(2);
  const num = (s) => s === '' ? null : Number(s);
  const NAME = {ri: 'S_RI', kn: 'S_KN', tr: 'S_TR'}, SHORT = {ri: 'RI', kn: 'KN', tr: 'TR'};
  /*RULE_CHECKS*/
  function rule(a, v, ctx) {
    return ruleChecks(a, v, ctx).map((c) => (c.on ? c.on + ' ' : '') + (c.relation ? esc(c.relation) + ' ' : '') + esc(c.what) + (c.value === null ? '' : ' ' + fmt(c.value))).join(', ');
  }
  function show(t, e) {
    const [id, pos, p, ri, kn, tr, flags, w] = t.dataset.d.split(';');
    const f = flags ? flags.split('+') : [];
    const ex = t.closest('.ex');
    const ctx = ex && ex.dataset.rc ? JSON.parse(ex.dataset.rc) : {rules: null};
    const piece = t.textContent.replace(/↵\n/g, '↵').replace(/⇥\t/g, '⇥').replace(/ /g, '␣');
    let h = '<div class="h"><code>' + esc(piece) + '</code><span class="pos">id ' + id + ' · token ' + pos + '</span></div>';
    if (t.classList.contains('p')) {
      h += '<div class="d prompt">Prompt token: input only, never in the loss</div>';
    } else {
      h += '<table><tr><th>p</th><td class="v">' + fmt(num(p)) + '</td><td class="c">model probability</td></tr>';
      const s = {ri: num(ri), kn: num(kn), tr: num(tr)};
      for (const a of ['ri', 'kn', 'tr']) {
        const hit = f.includes(a);
        h += '<tr class="' + (hit ? 'hit' : '') + '"><th><span class="dot" style="background:' + (hit ? TH.colour[a] : 'transparent') + ';border:1px solid ' + TH.colour[a] + '"></span>' + NAME[a] + '</th><td class="v">' + fmt(s[a]) + '</td><td class="c">' + rule(a, s[a], ctx) + (hit ? ' ✗' : '') + '</td></tr>';
      }
      h += '</table>';
      h += Number(w) === 0
        ? '<div class="d masked">MASKED · ' + (f.length ? 'flagged by ' + f.map((a) => SHORT[a]).join(' + ') : 'weight 0, no attribute flagged it') + '</div>'
        : '<div class="d kept">KEPT · in the loss' + (Number(w) !== 1 ? ' (weight ' + fmt(Number(w)) + ')' : '') + '</div>';
    }
    tip.innerHTML = h;
    tip.hidden = false;
    place(e);
  }
  function place(e) {
    const r = tip.getBoundingClientRect();
    let x = e.clientX + 14, y = e.clientY + 18;
    if (x + r.width > innerWidth - 8) x = Math.max(8, e.clientX - r.width - 14);
    if (y + r.height > innerHeight - 8) y = Math.max(8, e.clientY - r.height - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  let current = null;
  document.addEventListener('mouseover', (e) => {
    const t = e.target.closest && e.target.closest('.t');
    if (t === current) return;
    current = t;
    if (t) show(t, e); else tip.hidden = true;
  });
  document.addEventListener('mousemove', (e) => { if (current) place(e); });
  const box = document.getElementById('bounds');
  if (box) box.addEventListener('change', () => document.body.classList.toggle('boundaries', box.checked));
})();
