/**
 * Upkeep of the miner's index (template-index.ts): planting a leaf in the lookup tree, and pruning
 * when a template leaves (the branch of the tree that only its leaf used, the `children` keys its
 * path counted, emptied sets). Pure functions over the index's maps, so that an index keeps nothing
 * of a template it no longer has (the miner evicts templates to bound its memory: see miner.ts).
 */
import type { LeafEntry, TreeNode } from './template-index.js';

/** Separator of the parts of index keys: `fingerprint SEP count SEP offset SEP key ...`. */
export const SEP = '\u0001';
/** The index key of a wildcard or crowded position. */
export const STAR = '*';

/**
 * Add a new leaf to the lookup tree under `path` (root key, then one key per depth level); a new
 * root is also listed in `roots` under the fingerprint and `slot` (token count * 2 + offset).
 */
export function plantLeaf(
  tree: Map<string, TreeNode>,
  roots: Map<string, Map<number, TreeNode>>,
  path: readonly string[],
  entry: LeafEntry,
  fingerprint: string,
  slot: number,
): void {
  if (path.length < 2) return; // depth 0: search looks leaves up by key
  const root = path[0] as string;
  let node = tree.get(root);
  if (!node) {
    node = new Map();
    tree.set(root, node);
    let byLength = roots.get(fingerprint);
    if (!byLength) {
      byLength = new Map();
      roots.set(fingerprint, byLength);
    }
    byLength.set(slot, node);
  }
  for (let i = 1; i < path.length - 1; i++) {
    const k = path[i] as string;
    let next = node.get(k) as TreeNode | undefined;
    if (!next) {
      next = new Map();
      node.set(k, next);
    }
    node = next;
  }
  node.set(path[path.length - 1] as string, entry);
}

/**
 * Remove a leaf from the lookup tree at `path` (root key, then one key per level), and every node
 * left empty up to the root, and the root's entry in `roots`.
 */
export function uprootLeaf(
  tree: Map<string, TreeNode>,
  roots: Map<string, Map<number, TreeNode>>,
  path: readonly string[],
): void {
  if (path.length < 2) return; // depth 0: leaves are looked up by key, there is no tree
  const root = path[0] as string;
  const top = tree.get(root);
  if (!top) return;
  const nodes: TreeNode[] = [top];
  for (let i = 1; i < path.length - 1; i++) {
    const next = (nodes[nodes.length - 1] as TreeNode).get(path[i] as string) as TreeNode | LeafEntry | undefined;
    if (!(next instanceof Map)) return;
    nodes.push(next);
  }
  (nodes[nodes.length - 1] as TreeNode).delete(path[path.length - 1] as string);
  for (let i = nodes.length - 1; i > 0; i--) {
    if ((nodes[i] as TreeNode).size > 0) return;
    (nodes[i - 1] as TreeNode).delete(path[i] as string);
  }
  if (top.size > 0) return;
  tree.delete(root);
  // The root key is `fingerprint SEP token count SEP offset`; `roots` holds it by fingerprint,
  // then `count * 2 + offset`.
  const cut = root.lastIndexOf(SEP);
  const fpCut = root.lastIndexOf(SEP, cut - 1);
  const fp = root.slice(0, fpCut);
  const byLength = roots.get(fp);
  if (!byLength) return;
  const slot = Number(root.slice(fpCut + 1, cut)) * 2 + Number(root.slice(cut + 1));
  if (byLength.get(slot) === top) byLength.delete(slot);
  if (byLength.size === 0) roots.delete(fp);
}

/** The group key (`fingerprint SEP token count`) of a leaf path's root key. */
export function groupOfRoot(root: string): string {
  return root.slice(0, root.lastIndexOf(SEP));
}

/**
 * Give back the `children` keys a leaf path holds: each position's key (not `*`) was counted once
 * in its slot (`prefix SEP #position`) when the template was indexed.
 */
export function releaseChildren(children: Map<string, Map<string, number>>, path: readonly string[]): void {
  let key = path[0] as string;
  const offset = Number(key.slice(key.lastIndexOf(SEP) + 1));
  for (let j = 1; j < path.length; j++) {
    const k = path[j] as string;
    if (k !== STAR && k !== '') {
      const slot = `${key}${SEP}#${offset + j - 1}`;
      const seen = children.get(slot);
      const refs = seen?.get(k);
      if (seen && refs !== undefined) {
        if (refs > 1) seen.set(k, refs - 1);
        else {
          seen.delete(k);
          if (seen.size === 0) children.delete(slot);
        }
      }
    }
    key = `${key}${SEP}${k}`;
  }
}

/** Remove `item` from the set at each of `keys`, and the sets left empty. */
export function removeFromSets<T>(sets: Map<string, Set<T>>, keys: Iterable<string>, item: T): void {
  for (const k of keys) {
    const set = sets.get(k);
    if (!set) continue;
    set.delete(item);
    if (set.size === 0) sets.delete(k);
  }
}
