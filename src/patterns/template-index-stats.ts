/**
 * Introspection of a {@link TemplateIndex}: entry counts per structure (the miner's status, and
 * tests that an index holds nothing of the templates it no longer has) and a canonical snapshot
 * (tests that compare an index changed in place with one built afresh).
 */
import type { Cluster } from './miner-types.js';
import type { LeafEntry, Probe, TemplateIndex, TreeNode } from './template-index.js';

/** The structures of a {@link TemplateIndex}, read-only. */
export interface IndexParts {
  depth: number;
  leaves: ReadonlyMap<string, readonly Cluster[]>;
  tree: ReadonlyMap<string, TreeNode>;
  roots: ReadonlyMap<string, ReadonlyMap<number, TreeNode>>;
  groups: ReadonlyMap<string, ReadonlySet<string>>;
  children: ReadonlyMap<string, ReadonlyMap<string, number>>;
  siblings: ReadonlyMap<string, ReadonlySet<Cluster>>;
  anchors: ReadonlyMap<string, ReadonlySet<Cluster>>;
  probes: ReadonlyMap<string, Probe>;
}

/** Entry counts of a {@link TemplateIndex}. */
export interface IndexStats {
  /** Leaf lists, and the templates in them. */
  leaves: number;
  leafTemplates: number;
  /** Maps of the lookup tree (every level), and its roots by fingerprint and length. */
  treeNodes: number;
  roots: number;
  /** Groups (fingerprint + token count), and the leaf keys listed in them. */
  groups: number;
  groupLeaves: number;
  /** `children` slots (group + position) and the distinct keys counted in them. */
  childSlots: number;
  childKeys: number;
  siblingKeys: number;
  siblingEntries: number;
  anchorKeys: number;
  anchorEntries: number;
  /** Probe indexes of crowded leaves (built on demand). */
  probes: number;
}

/** The content of a {@link TemplateIndex} as sorted plain data; templates by id. */
export interface IndexSnapshot {
  leaves: Array<[string, number[]]>;
  /** Every path of the lookup tree, root key first, with the leaf key it ends at. */
  tree: string[];
  roots: string[];
  groups: Array<[string, string[]]>;
  children: Array<[string, Array<[string, number]>]>;
  siblings: Array<[string, number[]]>;
  anchors: Array<[string, number[]]>;
}

/** Entry counts of each structure. */
export function indexStats(p: IndexParts): IndexStats {
  let leafTemplates = 0;
  for (const list of p.leaves.values()) leafTemplates += list.length;
  let treeNodes = 0;
  const count = (node: TreeNode, level: number): void => {
    treeNodes++;
    if (level + 1 >= p.depth) return;
    for (const next of node.values()) count(next as TreeNode, level + 1);
  };
  for (const node of p.tree.values()) count(node, 0);
  let roots = 0;
  for (const byLength of p.roots.values()) roots += byLength.size;
  return {
    leaves: p.leaves.size,
    leafTemplates,
    treeNodes,
    roots,
    groups: p.groups.size,
    groupLeaves: sumSizes(p.groups.values()),
    childSlots: p.children.size,
    childKeys: sumSizes(p.children.values()),
    siblingKeys: p.siblings.size,
    siblingEntries: sumSizes(p.siblings.values()),
    anchorKeys: p.anchors.size,
    anchorEntries: sumSizes(p.anchors.values()),
    probes: p.probes.size,
  };
}

/** The content of every structure (probes aside: a cache), sorted. */
export function indexSnapshot(p: IndexParts): IndexSnapshot {
  const ids = (cs: Iterable<Cluster>) => [...cs].map((c) => c.id).sort((a, b) => a - b);
  const paths: string[] = [];
  const walk = (node: TreeNode, prefix: string[], level: number): void => {
    for (const [k, next] of node) {
      if (level + 1 >= p.depth) paths.push(JSON.stringify([...prefix, k, (next as LeafEntry).key]));
      else walk(next as TreeNode, [...prefix, k], level + 1);
    }
  };
  for (const [root, node] of p.tree) walk(node, [root], 0);
  const roots: string[] = [];
  for (const [fp, byLength] of p.roots) for (const slot of byLength.keys()) roots.push(JSON.stringify([fp, slot]));
  return {
    leaves: sortedEntries(p.leaves, ids),
    tree: paths.sort(),
    roots: roots.sort(),
    groups: sortedEntries(p.groups, (s) => [...s].sort()),
    children: sortedEntries(p.children, (m) => [...m.entries()].sort(byKey)),
    siblings: sortedEntries(p.siblings, ids),
    anchors: sortedEntries(p.anchors, ids),
  };
}

function sumSizes(sets: Iterable<{ size: number }>): number {
  let n = 0;
  for (const s of sets) n += s.size;
  return n;
}

function byKey<T>(a: readonly [string, T], b: readonly [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function sortedEntries<V, T>(m: ReadonlyMap<string, V>, f: (v: V) => T): Array<[string, T]> {
  return [...m.entries()].sort(byKey).map(([k, v]) => [k, f(v)]);
}
