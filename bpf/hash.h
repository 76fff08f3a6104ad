/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * hash.h — cheap hashes that index the per-CPU caches. Not for scheduling (a cache
 * collision only costs a miss): a multiply-xorshift over 32-bit words.
 */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>

static __always_inline __u32 mix32(__u32 h, __u32 w)
{
	h ^= w;
	h *= 0x9e3779b1u;
	return h ^ (h >> 15);
}

/* The final avalanche of MurmurHash3: every input bit reaches the low bits, which
 * index the caches (a multiply alone only carries bits upwards: addresses that
 * differ in their last byte, the top byte of the word, would share a slot). */
static __always_inline __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/* Hash of an address (4 or 16 bytes, by family). */
static __always_inline __u32 addr_hash(const __u8 *a, const int fam)
{
	const __u32 *w = (const __u32 *)a;
	__u32 h = mix32(0x12345678u, w[0]);

	if (fam == 6) {
		h = mix32(h, w[1]);
		h = mix32(h, w[2]);
		h = mix32(h, w[3]);
	}
	return fmix32(h);
}

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/*
 * MurmurHash3 x86_32 of `n` little-endian 32-bit words: the flow hash. The control
 * plane's src/model/flowhash.ts is the same function; test/bpf/maglev.test.ts checks
 * them against each other.
 */
static __always_inline __u32 murmur3_words(const __u32 *w, const int n, __u32 seed)
{
	__u32 h = seed, k;

#pragma unroll
	for (int i = 0; i < n; i++) {
		k = w[i] * 0xcc9e2d51u;
		k = rotl32(k, 15);
		k *= 0x1b873593u;
		h ^= k;
		h = rotl32(h, 13);
		h = h * 5 + 0xe6546b64u;
	}
	return fmix32(h ^ (__u32)(4 * n));
}

/* hash * len / 2^32: an index in [0, len) without a division. */
static __always_inline __u32 fastrange32(__u32 hash, __u32 len)
{
	return (__u32)(((__u64)hash * len) >> 32);
}

#endif /* XLB_HASH_H */
