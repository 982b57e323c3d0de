// Every portable case, in the order they run. Each op family adds its module here.
import type { PortableCase } from './suite.ts';
import { elementwiseCases } from './elementwise.ts';
import { crossEntropyCases } from './cross-entropy.ts';
import { adamwCases } from './adamw.ts';
import { gradNormCases } from './grad-norm.ts';
import { rmsnormCases } from './rmsnorm.ts';
import { ropeCases } from './rope.ts';
import { swigluCases } from './swiglu.ts';
import { embeddingCases } from './embedding.ts';
import { attentionCases } from './attention.ts';
import { matmulCases } from './matmul.ts';

export const portableCases: PortableCase[] = [...elementwiseCases, ...crossEntropyCases, ...adamwCases, ...gradNormCases, ...rmsnormCases, ...ropeCases, ...swigluCases, ...embeddingCases, ...attentionCases, ...matmulCases];
