// The large values the server keeps until asked (`inspect`): a variable's full value list and
// histogram, a node's saved tensors. The live stream marks what it left out with `kept: true`.
// DOM-free, so node can test it.

const isKept = (summary) => Boolean(summary && summary.kept);

// What the inspector must ask for to show `node` or `variable` whole: {key, request}, or null
// when the stream carried everything already.
export function detailRequest(node, variable) {
  if (variable && (isKept(variable.value) || isKept(variable.grad))) {
    return { key: `variable:${variable.name}`, request: { variable: variable.name } };
  }
  if (node && (node.saved || []).some(isKept)) {
    return { key: `node:${node.id}`, request: { node: node.id } };
  }
  return null;
}

// `node` and `variable` with what the server answered put in; a reply that is an error leaves
// them as they were (their statistics still show).
export function withDetails(details, node, variable) {
  const forVariable = variable && details.get(`variable:${variable.name}`);
  const forNode = node && details.get(`node:${node.id}`);
  return {
    variable: forVariable && !forVariable.error
      ? { ...variable, value: forVariable.value, grad: forVariable.grad } : variable,
    node: forNode && !forNode.error ? { ...node, saved: forNode.saved } : node,
  };
}
