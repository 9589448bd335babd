# summarize.awk: runs.tsv (tool, scenario, image, run, wall_s, rss_KB, user_s, sys_s) -> one line per
# image and scenario: median wall time of wharf and the other tool, their ratio, median CPU, peak RSS.
# The other tool is skopeo unless the script says otherwise (awk -v other=umoci).
function med(a, n,   x, y, t) {
  for (x = 2; x <= n; x++) for (y = x; y > 1 && a[y - 1] > a[y]; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  k = $3 "\t" $2
  if (!(k in seen)) { seen[k] = 1; order[++no] = k }
  n[$1, k]++; w[$1, k, n[$1, k]] = $5; c[$1, k, n[$1, k]] = $7 + $8
  if ($6 > rss[$1, k]) rss[$1, k] = $6
}
BEGIN { if (other == "") other = "skopeo" }
END {
  printf "%-8s %-11s %9s %9s %7s %10s %10s %9s %9s\n", "image", "scenario", "wharf_s", other "_s", "ratio", "wharf_cpu", other "_cpu", "wharf_MB", other "_MB"
  for (i = 1; i <= no; i++) {
    k = order[i]; split(k, p, "\t")
    nw = n["wharf", k]; ns = n[other, k]
    delete aw; delete as; delete cw; delete cs
    for (j = 1; j <= nw; j++) { aw[j] = w["wharf", k, j]; cw[j] = c["wharf", k, j] }
    for (j = 1; j <= ns; j++) { as[j] = w[other, k, j]; cs[j] = c[other, k, j] }
    mw = med(aw, nw); ms = med(as, ns)
    printf "%-8s %-11s %9.2f %9.2f %7.2f %10.2f %10.2f %9.0f %9.0f\n", p[1], p[2], mw, ms, (ms > 0 ? mw / ms : 0), med(cw, nw), med(cs, ns), rss["wharf", k] / 1024, rss[other, k] / 1024
  }
}
