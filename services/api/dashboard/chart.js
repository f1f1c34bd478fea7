// The completed-per-minute bar chart, drawn as SVG (no chart library, no CDN).

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 200;
const PAD = { top: 10, right: 8, bottom: 22, left: 34 };

function node(name, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== null) el.textContent = text;
  return el;
}

// four grid steps of 1, 2, 2.5 or 5 times a power of ten: the lines land on round numbers
function niceMax(value) {
  const raw = Math.max(value, 4) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const multiples = magnitude >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
  const step = multiples.map((m) => m * magnitude).find((s) => s >= raw);
  return step * 4;
}

const clock = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

export function drawChart(container, points) {
  const width = Math.max(container.clientWidth, 300);
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const top = niceMax(Math.max(0, ...points.map((p) => p.count)));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const svg = node("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, "aria-hidden": "true" });

  for (let i = 0; i <= 4; i++) {
    const value = (top / 4) * i;
    svg.append(node("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: y(value), y2: y(value) }));
    const label = Number.isInteger(value) ? String(value) : value.toFixed(1);
    svg.append(node("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, label));
  }

  const slot = plotW / Math.max(points.length, 1);
  points.forEach((point, i) => {
    const x = PAD.left + i * slot;
    const h = Math.max(point.count > 0 ? 1.5 : 0, (point.count / top) * plotH);
    const bar = node("rect", {
      class: "bar",
      x: x + slot * 0.12,
      y: PAD.top + plotH - h,
      width: Math.max(slot * 0.76, 1),
      height: h,
      rx: 1.5,
    });
    bar.append(node("title", {}, `${clock(point.minute)} · ${point.count} completed`));
    svg.append(bar);
    if (i % 15 === 0 || i === points.length - 1) {
      const anchor = i === points.length - 1 ? "end" : "start";
      const label = i === points.length - 1 ? "now" : clock(point.minute);
      svg.append(node("text", { x: i === points.length - 1 ? x + slot : x, y: HEIGHT - 6, "text-anchor": anchor }, label));
    }
  });
  container.replaceChildren(svg);
}
