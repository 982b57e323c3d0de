// Dispatch grids for kernels that walk a flat array: x is capped so that very large tensors
// spill into y instead of exceeding maxComputeWorkgroupsPerDimension (65535 on most devices).
const MAX_X = 32768;

export interface FlatGrid {
  workgroups: [number, number];
  /** Workgroups per row, passed to the kernel to rebuild the flat index. */
  rowGroups: number;
}

/** `items` work items, `perGroup` items per workgroup. */
export function flatGrid(items: number, perGroup: number): FlatGrid {
  const groups = Math.max(1, Math.ceil(items / perGroup));
  if (groups <= MAX_X) return { workgroups: [groups, 1], rowGroups: groups };
  return { workgroups: [MAX_X, Math.ceil(groups / MAX_X)], rowGroups: MAX_X };
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
