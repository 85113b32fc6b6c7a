# Shared helpers for the benchmarks (sourced). Files hold one number per line; the runs of two
# candidates are interleaved, so line i of A and line i of B were measured back to back.

# bench_median FILE [FORMAT]: the median of its numbers, printed with FORMAT (default %.6g)
bench_median() {
	sort -g "$1" | awk -v fmt="${2:-%.6g}\n" '{ v[NR] = $1 }
		END { if (!NR) print "nan"; else printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pair_ratio A B: the median over i of A_i / B_i (ratios computed pair by pair, then the median,
# so that a slow moment hits both members of a pair and cancels out)
bench_pair_ratio() {
	paste "$1" "$2" | awk '$2 > 0 { print $1 / $2 }' > "$1.ratio"
	bench_median "$1.ratio" %.3f
}

# pair_diff A B: the median over i of A_i - B_i
bench_pair_diff() {
	paste "$1" "$2" | awk 'NF == 2 { print $1 - $2 }' > "$1.diff"
	bench_median "$1.diff" %.3f
}
