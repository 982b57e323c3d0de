// Default domain-word lists per task family, as the authors' released script (github.com/EonHao/XTF,
// XTF_script.py, MIT) sets them for its datasets: the "released" task-relevance rule (./released.ts)
// averages the model's vectors of these words into the domain vector. The lists are data (facts about
// that script), kept in the script's order.
//
// Which dataset had which list there: GSM8K and NuminaMath-CoT (evaluated on MATH-500) the math list;
// CodeExercise-Python-27k and HumanEval the code list; PubMedQA the medicine list (it also has a finance
// list for FiQA, which no task here uses). MBPP and MedQA were not among its datasets: they get their
// family's list (code, medicine) — our mapping, not the script's.

/** "1".."10", the four arithmetic operators, "=" and "maths" (16 words). */
export const MATH_DOMAIN_WORDS: readonly string[] = Object.freeze([
  '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '+', '-', '*', '/', '=', 'maths',
]);

/** Ten Python keywords. */
export const CODE_DOMAIN_WORDS: readonly string[] = Object.freeze([
  'def', 'return', 'if', 'else', 'for', 'while', 'import', 'from', 'class', 'try',
]);

/** The 63 biomedical words, "gene" to "dermatology". */
export const MEDICINE_DOMAIN_WORDS: readonly string[] = Object.freeze([
  'gene', 'protein', 'cell', 'study', 'research', 'data', 'result', 'method',
  'analysis', 'expression', 'treatment', 'disease', 'patient', 'clinical',
  'trial', 'therapy', 'diagnosis', 'symptom', 'risk', 'factor', 'medicine',
  'health', 'biomarker', 'mutation', 'pathway', 'drug', 'effect', 'outcome',
  'sample', 'control', 'group', 'placebo', 'dose', 'response', 'mechanism',
  'inflammation', 'immune', 'system', 'cancer', 'tumor', 'infection',
  'bacteria', 'virus', 'antibody', 'vaccine', 'genome', 'sequencing',
  'epidemiology', 'prevalence', 'incidence', 'mortality', 'survival',
  'biological', 'pathology', 'biochemistry', 'pharmacology', 'neuroscience',
  'cardiology', 'oncology', 'radiology', 'surgery', 'psychiatry', 'dermatology',
]);

export type DomainFamily = 'math' | 'code' | 'medicine';

/** Task names this project knows, by family. */
export const DOMAIN_FAMILY_OF_TASK: Readonly<Record<string, DomainFamily>> = Object.freeze({
  gsm8k: 'math',
  math500: 'math',
  mbpp: 'code',
  humaneval: 'code',
  pubmedqa: 'medicine',
  medqa: 'medicine',
});

const LISTS: Readonly<Record<DomainFamily, readonly string[]>> = Object.freeze({
  math: MATH_DOMAIN_WORDS,
  code: CODE_DOMAIN_WORDS,
  medicine: MEDICINE_DOMAIN_WORDS,
});

/** The default domain words for a task ('gsm8k', 'math500', 'mbpp', 'humaneval', 'pubmedqa', 'medqa';
 *  case-sensitive, as the task names are written), or null where no list applies. The list is shared
 *  and frozen: copy it before changing it. */
export function defaultDomainWords(task: string): readonly string[] | null {
  const family = Object.prototype.hasOwnProperty.call(DOMAIN_FAMILY_OF_TASK, task) ? DOMAIN_FAMILY_OF_TASK[task] : undefined;
  return family ? LISTS[family] : null;
}
