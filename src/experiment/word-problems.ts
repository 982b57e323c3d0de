// Short arithmetic word problems with worked answers, in TinyStories' world (its names, things and
// sentence shapes), for an experiment stories260K can learn within minutes: the question gives a start
// amount and one or two changes; the answer restates each change, works it out ("3 + 4 = 7") and ends
// with GSM8K's "#### N", so the GSM8K metrics (exact match of the final number) score it.
// Browser-safe and seeded: the same seed and options give the same problems.
import { seededRandom } from '../model/random.ts';
import type { TaskExample } from '../data/tasks.ts';

export interface WordProblemOptions {
  /** Problems to build. */
  count: number;
  seed: number;
  /** Largest start amount and largest change (numbers start at 1). */
  maxNumber: number;
  /** Share of problems with two changes instead of one. */
  twoStepShare: number;
  /** Prefix of the ids ("wp" -> wp-0, wp-1, ...). */
  idPrefix: string;
}

export const WORD_PROBLEM_DEFAULTS: WordProblemOptions = { count: 100, seed: 0, maxNumber: 9, twoStepShare: 0.5, idPrefix: 'wp' };

const PEOPLE: readonly { name: string; pronoun: 'she' | 'he' }[] = [
  { name: 'Lily', pronoun: 'she' }, { name: 'Tim', pronoun: 'he' }, { name: 'Sue', pronoun: 'she' },
  { name: 'Ben', pronoun: 'he' }, { name: 'Mia', pronoun: 'she' }, { name: 'Max', pronoun: 'he' },
  { name: 'Anna', pronoun: 'she' }, { name: 'Sam', pronoun: 'he' }, { name: 'Lucy', pronoun: 'she' },
  { name: 'Tom', pronoun: 'he' },
];
const THINGS = ['apples', 'balls', 'cookies', 'flowers', 'toys', 'stones', 'cars', 'books', 'hats', 'shells'];

interface Change {
  kind: 'add' | 'take';
  amount: number;
  /** The question's sentence and the answer's restatement, without the arithmetic. */
  told: string;
  restated: string;
}

const capital = (s: string) => s[0].toUpperCase() + s.slice(1);
/** "1 apple", "3 apples" (every thing here has a regular plural). */
const count = (n: number, things: string) => `${n} ${n === 1 ? things.slice(0, -1) : things}`;

/** One change to the amount `have`: something is added (given, found, got) or taken (given away, lost, shared). */
function change(random: () => number, who: (typeof PEOPLE)[number], friend: string, things: string, have: number, maxNumber: number): Change {
  const kind = have >= 2 && random() < 0.5 ? 'take' : 'add';
  const amount = kind === 'add' ? 1 + Math.floor(random() * maxNumber) : 1 + Math.floor(random() * (have - 1));
  const she = who.pronoun, She = capital(she), her = she === 'she' ? 'her' : 'him';
  const forms = kind === 'add'
    ? [
      { told: `Then ${friend} gave ${her} ${amount} more ${things}.`, restated: `${friend} gave ${her} ${amount} more` },
      { told: `Then ${she} found ${amount} more ${things}.`, restated: `${She} found ${amount} more` },
      { told: `Then ${she} got ${amount} more ${things} from mom.`, restated: `Mom gave ${her} ${amount} more` },
    ]
    : [
      { told: `Then ${she} gave ${count(amount, things)} to ${friend}.`, restated: `${She} gave ${amount} to ${friend}` },
      { told: `Then ${she} lost ${count(amount, things)} in the park.`, restated: `${She} lost ${amount}` },
      { told: `Then ${she} shared ${count(amount, things)} with ${friend}.`, restated: `${She} shared ${amount} with ${friend}` },
    ];
  return { kind, amount, ...forms[Math.floor(random() * forms.length)] };
}

/** Seeded word problems: prompt = the story and its question, completion = the worked answer and "#### N". */
export function wordProblems(options: Partial<WordProblemOptions> = {}): TaskExample[] {
  const o = { ...WORD_PROBLEM_DEFAULTS, ...options };
  if (!(Number.isInteger(o.count) && o.count >= 0)) throw new RangeError(`word problems: count must be a whole number, got ${o.count}`);
  if (!(Number.isInteger(o.maxNumber) && o.maxNumber >= 2 && o.maxNumber <= 99)) throw new RangeError(`word problems: maxNumber must be a whole number in 2..99, got ${o.maxNumber}`);
  if (!(o.twoStepShare >= 0 && o.twoStepShare <= 1)) throw new RangeError(`word problems: twoStepShare must be in [0, 1], got ${o.twoStepShare}`);
  const random = seededRandom(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const out: TaskExample[] = [];
  for (let i = 0; i < o.count; i++) {
    const who = pick(PEOPLE);
    let friend = pick(PEOPLE).name;
    while (friend === who.name) friend = pick(PEOPLE).name;
    const things = pick(THINGS);
    const start = 2 + Math.floor(random() * (o.maxNumber - 1));
    const steps = random() < o.twoStepShare ? 2 : 1;
    const question = [`${who.name} had ${start} ${things}.`];
    const answer = [`${who.name} had ${start} ${things}.`];
    let have = start;
    for (let s = 0; s < steps; s++) {
      const c = change(random, who, friend, things, have, o.maxNumber);
      const next = c.kind === 'add' ? have + c.amount : have - c.amount;
      question.push(c.told);
      answer.push(`${c.restated}, so ${have} ${c.kind === 'add' ? '+' : '-'} ${c.amount} = ${next}.`);
      have = next;
    }
    question.push(`How many ${things} does ${who.name} have now?`);
    answer.push(`Now ${who.name} has ${count(have, things)}.`);
    out.push({
      id: `${o.idPrefix}-${i}`,
      prompt: `${question.join(' ')}\nAnswer:`,
      completion: `${answer.join(' ')}\n#### ${have}`,
      target: { kind: 'number', value: String(have) },
    });
  }
  return out;
}
