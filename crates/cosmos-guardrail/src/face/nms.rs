//! Greedy non-maximum suppression, in the two conventions the reference detectors use.

/// How the overlap of two boxes is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller box (MTCNN's last stage).
    Min,
}

/// Keeps the highest-scoring boxes, dropping every box whose overlap with a kept one exceeds
/// `threshold`. `boxes` are `[x1, y1, x2, y2]`. With `inclusive` the areas count pixels
/// inclusively (`x2 − x1 + 1`, the Fast R-CNN `py_cpu_nms` convention of RetinaFace and MTCNN's
/// last stage); without it areas are continuous (torchvision's `nms`). Returns the indices kept,
/// best first; ties keep the earlier box first.
pub fn nms(
    boxes: &[[f32; 4]],
    scores: &[f32],
    threshold: f32,
    overlap: Overlap,
    inclusive: bool,
) -> Vec<usize> {
    let one = if inclusive { 1.0 } else { 0.0 };
    let area = |b: &[f32; 4]| (b[2] - b[0] + one) * (b[3] - b[1] + one);
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &boxes[i];
        let area_a = area(a);
        for &j in &order[rank + 1..] {
            if suppressed[j] {
                continue;
            }
            let b = &boxes[j];
            let w = (a[2].min(b[2]) - a[0].max(b[0]) + one).max(0.0);
            let h = (a[3].min(b[3]) - a[1].max(b[1]) + one).max(0.0);
            let inter = w * h;
            let area_b = area(b);
            let o = match overlap {
                Overlap::Union => inter / (area_a + area_b - inter),
                Overlap::Min => inter / area_a.min(area_b),
            };
            if o > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_inclusive_by_hand() {
        // Two 10x10 boxes (inclusive: 11x11 = 121 px) shifted by 5: intersection 6x11 = 66,
        // IoU = 66 / (242 - 66) = 0.375 -> kept at 0.4, dropped at 0.3.
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [5.0, 0.0, 15.0, 10.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        let scores = [0.9, 0.95, 0.8];
        assert_eq!(
            nms(&boxes, &scores, 0.4, Overlap::Union, true),
            vec![1, 0, 2]
        );
        assert_eq!(nms(&boxes, &scores, 0.3, Overlap::Union, true), vec![1, 2]);
        // Continuous areas: intersection 5x10 = 50, IoU = 50/150 = 0.333.
        assert_eq!(
            nms(&boxes, &scores, 0.34, Overlap::Union, false),
            vec![1, 0, 2]
        );
        assert_eq!(
            nms(&boxes, &scores, 0.33, Overlap::Union, false),
            vec![1, 2]
        );
    }

    #[test]
    fn min_overlap_drops_nested_boxes() {
        // A small box inside a big one: intersection over the smaller area is 1.
        let boxes = [[0.0, 0.0, 100.0, 100.0], [10.0, 10.0, 20.0, 20.0]];
        let scores = [0.9, 0.99];
        assert_eq!(nms(&boxes, &scores, 0.7, Overlap::Min, true), vec![1]);
        assert_eq!(nms(&boxes, &scores, 0.7, Overlap::Union, true), vec![1, 0]);
    }
}
