// The device menu's entries, from the server's `capabilities` ({devices: [{id, available,
// label | reason}]}): what runs may use here, and, where CUDA is absent, an entry that cannot be
// chosen and says why. DOM-free.

export const CPU_ONLY = { devices: [{ id: "cpu", available: true, label: "cpu" }] };

export function deviceChoices(report) {
  return (report.devices || []).map((d) => {
    const label = d.available ? (d.label || d.id) : `${d.id} — unavailable: ${d.reason}`;
    return { value: d.id, label, disabled: !d.available,
             title: d.available ? label : `${d.id} is unavailable: ${d.reason}` };
  });
}

// What the menu shows after an update: the choice stays when it still may be run on.
export function keptChoice(choices, chosen) {
  return choices.some((c) => c.value === chosen && !c.disabled) ? chosen : "cpu";
}

// The device an example is written for ("gpu/..." examples ask for cuda), or null when it runs
// on any: then the menu keeps the user's choice.
export function exampleDevice(name) {
  return name.startsWith("gpu/") ? "cuda" : null;
}
