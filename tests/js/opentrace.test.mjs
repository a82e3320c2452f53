import { test } from "node:test";
import assert from "node:assert/strict";
import { traceProblem } from "../../static/js/opentrace.js";

const trace = () => ({ schema: "gradtrace/1", graph: { nodes: [], edges: [] }, variables: [],
                       steps: [], passes: [], diagnostics: [] });

test("a trace document passes; anything else is named for what it is", () => {
  assert.equal(traceProblem(trace()), null);
  assert.equal(traceProblem([]), "not a trace: a trace JSON is an object");
  assert.equal(traceProblem(null), "not a trace: a trace JSON is an object");
  assert.match(traceProblem({ nodes: [] }), /no "schema"/);
  assert.match(traceProblem({ ...trace(), schema: "gradtrace/9" }), /another version/);
  assert.equal(traceProblem({ ...trace(), graph: null, steps: 3 }),
               "a trace with no graph, steps: was it cut short?");
});
