// The schedules panel: each schedule with its expression, next run and last task.

const when = (s) => (s.cron !== null ? `${s.cron} (${s.timezone})` : `every ${s.every_s}s`);

export function renderSchedules({ el, fullTime, ago, badge, select }, listing) {
  const rows = listing.schedules.map((s) => {
    const next = s.enabled ? el("span", { title: fullTime(s.next_run_at) }, fullTime(s.next_run_at)) : badge("paused");
    const last = s.last_task_id
      ? el("a", { href: "#", class: "mono", title: s.last_task_id }, s.last_task_id.slice(0, 8))
      : "—";
    if (s.last_task_id) {
      last.addEventListener("click", (event) => {
        event.preventDefault();
        select(s.last_task_id);
      });
    }
    return el(
      "tr",
      { dataset: { schedule: s.name } },
      el("td", {}, s.name),
      el("td", {}, s.action),
      el("td", { class: "mono" }, when(s)),
      el("td", {}, next),
      el("td", { title: fullTime(s.last_run_at) }, ago(s.last_run_at)),
      el("td", {}, last),
    );
  });
  document.querySelector("#schedules tbody").replaceChildren(...rows);
  document.querySelector("#schedules-empty").hidden = rows.length > 0;
  const paused = listing.schedules.filter((s) => !s.enabled).length;
  document.querySelector("#schedules-summary").textContent =
    `${listing.count} schedule${listing.count === 1 ? "" : "s"}${paused ? `, ${paused} paused` : ""}`;
}
