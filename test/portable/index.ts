// Every portable case, in the order they run. Each op family adds its module here.
import type { PortableCase } from './suite.ts';
import { elementwiseCases } from './elementwise.ts';

export const portableCases: PortableCase[] = [...elementwiseCases];
