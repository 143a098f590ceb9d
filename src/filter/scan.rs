//! Byte search for the line filter, 16 bytes at a time in safe code: the
//! classic "has a zero byte" test on the word XORed with the wanted byte,
//! then an exact scan of the word that has one.

type Word = u128;
const W: usize = 16;
const LO: Word = 0x0101_0101_0101_0101_0101_0101_0101_0101;
const HI: Word = 0x8080_8080_8080_8080_8080_8080_8080_8080;

#[inline]
fn has_zero(w: Word) -> bool {
    w.wrapping_sub(LO) & !w & HI != 0
}

#[inline]
fn word(c: &[u8]) -> Word {
    let mut a = [0u8; W];
    a.copy_from_slice(c);
    Word::from_le_bytes(a)
}

/// The index of the first `a` or `b` in `hay`.
pub(crate) fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (va, vb) = (LO * Word::from(a), LO * Word::from(b));
    let mut i = 0;
    for c in hay.chunks_exact(W) {
        let w = word(c);
        if has_zero(w ^ va) || has_zero(w ^ vb) {
            break;
        }
        i += W;
    }
    hay[i..]
        .iter()
        .position(|&x| x == a || x == b)
        .map(|p| i + p)
}

/// The index of the first `a` in `hay`.
pub(crate) fn find1(hay: &[u8], a: u8) -> Option<usize> {
    let va = LO * Word::from(a);
    let mut i = 0;
    for c in hay.chunks_exact(W) {
        if has_zero(word(c) ^ va) {
            break;
        }
        i += W;
    }
    hay[i..].iter().position(|&x| x == a).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time search agrees with a plain scan at every
    /// position, for every byte value next to the wanted ones.
    #[test]
    fn agrees_with_a_plain_scan() {
        for len in 0..40 {
            for at in 0..=len {
                for filler in [0u8, 1, 9, 11, 12, 14, 0x7f, 0x80, 0x8a, 0xff] {
                    let mut hay = vec![filler; len];
                    if at < len {
                        hay[at] = b'\n';
                    }
                    let want2 = hay.iter().position(|&x| x == b'\r' || x == b'\n');
                    assert_eq!(find2(&hay, b'\r', b'\n'), want2, "{hay:?}");
                    let want1 = hay.iter().position(|&x| x == b'\n');
                    assert_eq!(find1(&hay, b'\n'), want1, "{hay:?}");
                }
            }
        }
    }
}
