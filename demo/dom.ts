// The few DOM helpers every step of the demo page uses: find an element by id, read and set a radio
// group, and show a passing message. Kept apart so the step modules share one spelling of each.

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** The value of the checked radio button of a group. */
export const chosen = (name: string) => (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement).value;

export function choose(name: string, value: string): void {
  (document.querySelector(`input[name=${name}][value=${value}]`) as HTMLInputElement).checked = true;
}

/** A message in the corner for a few seconds (errors, hints). */
export function toast(message: string): void {
  const t = document.createElement('div');
  t.className = 'toast';
  t.textContent = message;
  document.body.append(t);
  setTimeout(() => t.remove(), 9000);
}
