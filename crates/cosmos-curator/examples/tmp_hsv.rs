use cosmos_curator::shot::hsv::HsvPlanes;
use std::time::Instant;
fn branchy(
    rgb: &[u8],
    h: &mut Vec<u8>,
    s: &mut Vec<u8>,
    v: &mut Vec<u8>,
    st: &[i32; 256],
    ht: &[i32; 256],
) {
    let n = rgb.len() / 3;
    h.resize(n, 0);
    s.resize(n, 0);
    v.resize(n, 0);
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        let value = r.max(g).max(b);
        let spread = value - r.min(g).min(b);
        let sat = (spread * st[value as usize] + 32768) >> 16;
        let (off, num) = if value == r {
            (0, g - b)
        } else if value == g {
            (2 * spread, b - r)
        } else {
            (4 * spread, r - g)
        };
        let mut hue = ((off + num) * ht[spread as usize] + 32768) >> 16;
        if hue < 0 {
            hue += 180;
        }
        h[i] = hue as u8;
        s[i] = sat as u8;
        v[i] = value as u8;
    }
}
#[inline(always)]
fn masked_px(r: i32, g: i32, b: i32, st: &[i32; 256], ht: &[i32; 256]) -> (u8, u8, u8) {
    let value = r.max(g).max(b);
    let spread = value - r.min(g).min(b);
    let sat = (spread * st[value as usize] + 32768) >> 16;
    let rm = -((value == r) as i32);
    let gm = !rm & -((value == g) as i32);
    let bm = !(rm | gm);
    let num = (rm & (g - b)) | (gm & (b - r)) | (bm & (r - g));
    let off = (gm & (2 * spread)) | (bm & (4 * spread));
    let hue = ((off + num) * ht[spread as usize] + 32768) >> 16;
    let hue = hue + ((hue >> 31) & 180);
    (hue as u8, sat as u8, value as u8)
}
#[target_feature(enable = "avx2")]
fn avx2(rgb: &[u8], h: &mut [u8], s: &mut [u8], v: &mut [u8], st: &[i32; 256], ht: &[i32; 256]) {
    const L: usize = 16;
    let n = rgb.len() / 3;
    for blk in 0..n / L {
        let src = &rgb[blk * 3 * L..(blk + 1) * 3 * L];
        let mut r = [0i32; L];
        let mut g = [0i32; L];
        let mut b = [0i32; L];
        for i in 0..L {
            r[i] = src[3 * i] as i32;
            g[i] = src[3 * i + 1] as i32;
            b[i] = src[3 * i + 2] as i32;
        }
        let hh = &mut h[blk * L..(blk + 1) * L];
        let ss = &mut s[blk * L..(blk + 1) * L];
        let vv = &mut v[blk * L..(blk + 1) * L];
        for i in 0..L {
            let (a, c, d) = masked_px(r[i], g[i], b[i], st, ht);
            hh[i] = a;
            ss[i] = c;
            vv[i] = d;
        }
    }
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let video = cosmos_media::read_video(
        &a[1],
        &cosmos_media::ReadOptions::default().resize(256, 109),
    )
    .unwrap();
    let frames: Vec<Vec<u8>> = video
        .frames
        .outer_iter()
        .map(|f| f.iter().copied().collect())
        .collect();
    let mut st = [0i32; 256];
    let mut ht = [0i32; 256];
    for x in 1..256 {
        st[x] = (255.0 * 65536.0 / x as f64).round() as i32;
        ht[x] = (30.0 * 65536.0 / x as f64).round() as i32;
    }
    let mut planes = HsvPlanes::default();
    let (mut h, mut s, mut v) = (vec![], vec![], vec![]);
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..10 {
            for f in &frames {
                planes.fill_from_rgb(f);
            }
        }
        let masked = t.elapsed().as_secs_f64() / (10.0 * frames.len() as f64) * 1e6;
        let t = Instant::now();
        for _ in 0..10 {
            for f in &frames {
                branchy(f, &mut h, &mut s, &mut v, &st, &ht);
            }
        }
        let br = t.elapsed().as_secs_f64() / (10.0 * frames.len() as f64) * 1e6;
        let t = Instant::now();
        for _ in 0..10 {
            for f in &frames {
                let n = f.len() / 3;
                h.resize(n, 0);
                s.resize(n, 0);
                v.resize(n, 0);
                unsafe { avx2(f, &mut h, &mut s, &mut v, &st, &ht) }
            }
        }
        let av = t.elapsed().as_secs_f64() / (10.0 * frames.len() as f64) * 1e6;
        println!(
            "round {round}: library {masked:.1} us/frame, branchy {br:.1} us/frame, avx2 masked {av:.1}"
        );
    }
}
