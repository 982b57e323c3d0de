// The one file of src/data that touches the file system (Node and Deno): read a dataset path.
import { readFileSync } from 'node:fs';
import { decodeDataBytes, parseRecordsBytes, type RawRecord } from './files.ts';
import { toTrainRecords, type RecordOptions, type TrainRecord } from './records.ts';

export function readRecordsFile(path: string): RawRecord[] {
  return parseRecordsBytes(new Uint8Array(readFileSync(path)), path);
}

/** The file's text, gunzipped when it is gzip. */
export function readDataText(path: string): string {
  return decodeDataBytes(new Uint8Array(readFileSync(path)), path);
}

/** A dataset file (JSONL / JSON, gzip or not) as training records. */
export function readTrainRecords(path: string, options: RecordOptions = {}): TrainRecord[] {
  return toTrainRecords(readRecordsFile(path), path, options);
}
