import assert from "node:assert/strict";
import { test } from "node:test";

import { chartSeries, linearScale, niceMax, pathData } from "../chart.js";

const at = (seconds) => new Date(Date.UTC(2026, 2, 1, 12, 0, seconds)).toISOString();

test("the series counts sends and reads cumulatively, in time order", () => {
  const deliveries = [
    { status: "Sent", at: at(30), ack: "Delivered" },
    { status: "Sent", at: at(0), ack: "Read" },
    { status: "Failed", at: at(10) },
    { status: "Sent", at: at(20), ack: "Played" },
    { status: "Skipped", at: at(25) },
    { status: "Sent", at: "garbage" },
  ];
  const points = chartSeries(deliveries);
  assert.deepEqual(points[0], { t: Date.parse(at(0)), sent: 0, read: 0 });
  assert.deepEqual(points.at(-1), { t: Date.parse(at(30)), sent: 3, read: 2 });
  for (let i = 1; i < points.length; i += 1) {
    assert.ok(points[i].t >= points[i - 1].t && points[i].sent >= points[i - 1].sent && points[i].read <= points[i].sent);
  }
  assert.deepEqual(chartSeries([]), []);
  assert.deepEqual(chartSeries([{ status: "Failed", at: at(1) }]), []);
});

test("many deliveries are folded into a bounded number of points", () => {
  const deliveries = Array.from({ length: 5000 }, (_, i) => ({ status: "Sent", at: at(i), ack: i % 2 ? "Read" : null }));
  const points = chartSeries(deliveries, 60);
  assert.equal(points.length, 60);
  assert.deepEqual(points.at(-1), { t: Date.parse(at(4999)), sent: 5000, read: 2500 });
});

test("deliveries at one instant still make a chart", () => {
  const points = chartSeries([{ status: "Sent", at: at(5) }, { status: "Sent", at: at(5) }]);
  assert.equal(points.at(-1).sent, 2);
});

test("scales map the domain onto the range, and the axis top is round", () => {
  const y = linearScale([0, 100], [200, 0]);
  assert.equal(y(0), 200);
  assert.equal(y(50), 100);
  assert.equal(y(100), 0);
  assert.equal(linearScale([5, 5], [10, 90])(5), 10);
  assert.deepEqual([0, 1, 3, 7, 10, 11, 240, 999, 1001].map(niceMax), [1, 1, 5, 10, 10, 20, 500, 1000, 2000]);
});

test("the path goes through every point", () => {
  const points = [{ t: 0, sent: 0 }, { t: 10, sent: 5 }, { t: 20, sent: 10 }];
  const d = pathData(points, linearScale([0, 20], [0, 200]), linearScale([0, 10], [100, 0]), "sent");
  assert.equal(d, "M0.0,100.0 L100.0,50.0 L200.0,0.0");
});
