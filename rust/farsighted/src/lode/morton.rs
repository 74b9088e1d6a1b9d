//! Orders along a Morton (Z-order) curve: items near each other in space end near each other
//! in the order at every scale, so that loops over them reuse what the caches hold

/// Indices 0..n sorted along the Morton curve through the integer coordinates `cell(i)` of
/// each item (21 bits each)
pub(crate) fn morton_order(n: usize, cell: impl Fn(usize) -> [u64; 3]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_cached_key(|&i| morton_key(cell(i)));
    order
}

/// The bits of the three coordinates interleaved in a u64
fn morton_key(cell: [u64; 3]) -> u64 {
    let spread = |x: u64| {
        let mut x = x & 0x1f_ffff;
        x = (x | x << 32) & 0x1f_0000_0000_ffff;
        x = (x | x << 16) & 0x1f_0000_ff00_00ff;
        x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
        x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
        (x | x << 2) & 0x1249_2492_4924_9249
    };
    spread(cell[0]) | spread(cell[1]) << 1 | spread(cell[2]) << 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_the_bits_of_the_coordinates() {
        assert_eq!(morton_key([1, 0, 0]), 0b001);
        assert_eq!(morton_key([0, 1, 0]), 0b010);
        assert_eq!(morton_key([0, 0, 1]), 0b100);
        assert_eq!(morton_key([3, 0, 2]), 0b101_001);
        assert_eq!(morton_key([0x1f_ffff; 3]), (1 << 63) - 1);
    }

    #[test]
    fn the_eight_corners_of_a_cube_come_before_the_next_cube() {
        let cells: Vec<[u64; 3]> = (0..64).map(|i| [i % 4, (i / 4) % 4, i / 16]).collect();
        let order = morton_order(cells.len(), |i| cells[i]);
        for block in order.chunks(8) {
            let corner = cells[block[0]].map(|x| x / 2);
            assert!(block.iter().all(|&i| cells[i].map(|x| x / 2) == corner));
        }
    }
}
