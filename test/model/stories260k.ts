// Loads the shared stories260K model, tokenizer and golden outputs (../shared, never copied into the repo).
import { readFileSync } from 'node:fs';
import { parseLlama2cCheckpoint } from '../../src/model/llama2c.ts';
import { parseLlama2cTokenizer } from '../../src/model/tokenizer-llama2c.ts';

export const STORIES260K_DIR = new URL('../../../shared/models/stories260K/', import.meta.url);

export interface ReferenceCase {
  text: string;
  tokens: number[];
  next_token_logprobs: number[];
}

export interface Stories260kReference {
  cases: ReferenceCase[];
  greedy: { prompt: string; steps: number; text: string };
}

export function readShared(file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(file, STORIES260K_DIR)));
}

export const reference: Stories260kReference = JSON.parse(new TextDecoder().decode(readShared('reference.json')));
export const checkpointBytes = (): Uint8Array => readShared('stories260K.bin');
export const loadModel = () => parseLlama2cCheckpoint(checkpointBytes(), { name: 'stories260K.bin' });
export const loadTokenizer = () => parseLlama2cTokenizer(readShared('tok512.bin'), { name: 'tok512.bin', vocabSize: 512 });
