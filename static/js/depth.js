// The depth control beside Expand all and Collapse all (`data-testid="depth"`): open the graph
// to one level of its groups, each group of that level collapsed. Levels are counted from the
// view layout's group tree (views.py's reply: [path, parent index, ...], outer groups first).
// The tree and the paths are pure, for `node --test`; fill() touches the select only.

// Each group's level: 1 for a group at the top, 2 for one inside it, ...
export function groupLevels(reply) {
  const levels = [];
  reply.groups.forEach(([, parent], k) => { levels[k] = parent < 0 ? 1 : levels[parent] + 1; });
  return levels;
}

// The groups to collapse to show `level`: every group at that level (the ones above it open).
export function collapsedAt(reply, level) {
  const levels = groupLevels(reply);
  return reply.groups.filter((_, k) => levels[k] === level).map(([path]) => path);
}

// The select's options for `reply`: "levels" (a title), then 1 … the deepest level. Kept as they
// are for another layout of the same graph, so that a choice stays shown.
export function fill(select, reply) {
  const deepest = reply ? Math.max(0, ...groupLevels(reply)) : 0;
  const key = `${reply ? reply.nodes : 0}:${deepest}`;
  if (select.dataset.graph === key) { return; }
  select.dataset.graph = key;
  select.replaceChildren(new Option("levels", ""),
    ...Array.from({ length: deepest }, (_, k) => new Option(`level ${k + 1}`, String(k + 1))));
  select.disabled = deepest === 0;
}
