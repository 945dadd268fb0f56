// A small line chart of a campaign's sends and reads over time, as SVG built
// with DOM calls. The series and the scales are pure functions (tested in Node).

const SVG_NS = "http://www.w3.org/2000/svg";
export const READ_ACKS = ["Read", "Played"];
const MAX_POINTS = 60;

/**
 * Cumulative sends and reads over time from deliveries (`at`, `status`, `ack`), in at most
 * `maxPoints` steps: [{ t, sent, read }], t in ms. Reads are counted at their message's send
 * time (the API keeps when a message went out, not when it was read).
 */
export function chartSeries(deliveries, maxPoints = MAX_POINTS) {
  const events = [];
  for (const delivery of deliveries ?? []) {
    if (delivery?.status !== "Sent") continue;
    const t = Date.parse(delivery.at);
    if (Number.isFinite(t)) events.push({ t, read: READ_ACKS.includes(delivery.ack) });
  }
  events.sort((a, b) => a.t - b.t);
  if (events.length === 0) return [];
  const first = events[0].t;
  const last = events[events.length - 1].t;
  const steps = Math.max(1, Math.min(maxPoints - 1, events.length));
  const width = (last - first) / steps || 1;
  const points = [{ t: first, sent: 0, read: 0 }];
  let sent = 0;
  let read = 0;
  let next = 0;
  for (let step = 1; step <= steps; step += 1) {
    const until = step === steps ? last : first + width * step;
    while (next < events.length && events[next].t <= until) {
      sent += 1;
      if (events[next].read) read += 1;
      next += 1;
    }
    points.push({ t: until, sent, read });
  }
  return points;
}

/** A linear map from [d0, d1] onto [r0, r1]; a flat domain maps to r0. */
export function linearScale([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  return (value) => (span === 0 ? r0 : r0 + ((value - d0) / span) * (r1 - r0));
}

/** A round axis maximum at or above `value`: 1, 2, 5, 10, 20, 50, ... */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/** The `d` of an SVG polyline path through the points. */
export function pathData(points, x, y, key) {
  return points
    .map((point, i) => `${i === 0 ? "M" : "L"}${x(point.t).toFixed(1)},${y(point[key]).toFixed(1)}`)
    .join(" ");
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const timeWithSeconds = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/**
 * The chart as an <svg> element (scales with its container), described for screen readers
 * by `summary`.
 */
export function sendsChart(points, { summary, width = 640, height = 220 } = {}) {
  const pad = { left: 44, right: 12, top: 12, bottom: 28 };
  const top = niceMax(Math.max(...points.map((point) => point.sent), 1));
  const t0 = points[0]?.t ?? 0;
  const t1 = points[points.length - 1]?.t ?? 0;
  const x = linearScale([t0, t1], [pad.left, width - pad.right]);
  const y = linearScale([0, top], [height - pad.bottom, pad.top]);
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": summary ?? "Messages sent and read over time",
    "data-testid": "sends-chart",
    "data-points": points.length,
    "data-sent": points[points.length - 1]?.sent ?? 0,
    "data-read": points[points.length - 1]?.read ?? 0,
  });
  for (const tick of [0, top / 2, top]) {
    root.append(
      svg("line", { class: "chart-grid", x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick) }),
      svg("text", { class: "chart-label", x: pad.left - 6, y: y(tick) + 4, "text-anchor": "end" }, Math.round(tick)),
    );
  }
  if (points.length > 0) {
    // Seconds too when the whole chart is within an hour, or both ends could read the same.
    const clock = t1 - t0 < 3_600_000 ? timeWithSeconds : timeOfDay;
    root.append(
      svg("text", { class: "chart-label", x: pad.left, y: height - 8 }, clock.format(new Date(t0))),
      svg("text", { class: "chart-label", x: width - pad.right, y: height - 8, "text-anchor": "end" }, clock.format(new Date(t1))),
      svg("path", { class: "chart-line chart-sent", d: pathData(points, x, y, "sent") }),
      svg("path", { class: "chart-line chart-read", d: pathData(points, x, y, "read") }),
    );
  }
  return root;
}
