// Token embedding lookup and its gradient. Ids >= V give zero rows and no gradient (documented in
// embedding.wgsl): a bad id must never read or write outside the table.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

const WG = 256;

function dims(op: string, ids: Tensor, table: Tensor): { tokens: number; vocab: number; cols: number } {
  if (ids.dtype !== 'u32') throw new RangeError(`${op}: ids ${ids} must be u32`);
  if (table.shape.length !== 2) throw new RangeError(`${op}: table [${table.shape.join(', ')}] must be [V, C]`);
  return { tokens: ids.size, vocab: table.shape[0], cols: table.shape[1] };
}

function params(tokens: number, vocab: number, cols: number, rowGroups: number): ArrayBuffer {
  return new Uniforms().u32(tokens).u32(vocab).u32(cols).u32(rowGroups).bytes();
}

/** ids u32 [...] (any shape, N ids), table [V, C] -> [..., C]. */
export function embeddingForward(rt: Runtime, ids: Tensor, table: Tensor, out = rt.empty([...ids.shape, table.shape[1] ?? 0], 'f32', 'embedding out')): Tensor {
  const { tokens, vocab, cols } = dims('embedding', ids, table);
  if (out.size !== tokens * cols) throw new RangeError(`embedding: output ${out} must hold ${tokens} x ${cols} values`);
  const grid = flatGrid(tokens * Math.ceil(cols / 4), WG);
  rt.dispatch({
    shader: 'embedding',
    entryPoint: 'forward',
    constants: { WG },
    uniforms: params(tokens, vocab, cols, grid.rowGroups),
    bindings: [ids, table, out],
    workgroups: tokens * cols === 0 ? [0] : grid.workgroups,
  });
  return out;
}

/**
 * Adds the gradient of the lookup into dTable [V, C]: dTable[v] += Σ_{n: ids[n] = v} dOut[n].
 * Accumulating lets a tied embedding/classifier sum both gradients in one tensor; start from
 * `rt.zeros([V, C])` otherwise. Deterministic (fixed summation order, no atomics).
 */
export function embeddingBackward(rt: Runtime, dOut: Tensor, ids: Tensor, dTable: Tensor): Tensor {
  const { tokens, vocab, cols } = dims('embedding backward', ids, dTable);
  if (dOut.size !== tokens * cols) throw new RangeError(`embedding backward: dOut [${dOut.shape.join(', ')}] must hold ${tokens} x ${cols} values (ids ${ids}, dTable [${dTable.shape.join(', ')}])`);
  if (tokens === 0 || cols === 0) return dTable;
  const bounds = rt.zeros([2, vocab], 'u32', 'embedding id bounds');
  const links = rt.empty([2, tokens], 'u32', 'embedding token links');
  const tokenGrid = flatGrid(tokens, WG);
  for (const [entryPoint, bindings] of [
    ['mark_occurrences', [ids, bounds]],
    ['link_tokens', [ids, bounds, links]],
  ] as const) {
    rt.dispatch({
      shader: 'embedding',
      entryPoint,
      constants: { WG },
      uniforms: params(tokens, vocab, cols, tokenGrid.rowGroups),
      bindings: [...bindings],
      workgroups: tokenGrid.workgroups,
    });
  }
  const scatterGrid = flatGrid(tokens * Math.ceil(cols / 4), WG);
  rt.dispatch({
    shader: 'embedding',
    entryPoint: 'scatter_rows',
    constants: { WG },
    uniforms: params(tokens, vocab, cols, scatterGrid.rowGroups),
    bindings: [ids, dOut, links, dTable],
    workgroups: scatterGrid.workgroups,
  });
  bounds.release();
  links.release();
  return dTable;
}
