# bench/median.awk: awk functions the bench summaries share, read into
# $AWK_MEDIAN (bench/lib.sh) or $MEDIAN (bench/summarize.sh) and put in
# front of each summary's program.
# median(LIST): the numeric median of a space-separated list ("" if empty).
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
# fmt(V, F): V printed with F, or "-" when V is empty.
function fmt(v, f) { return v == "" ? "-" : sprintf(f, v) }
