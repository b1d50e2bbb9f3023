//! Technical indicators computed from a daily close series (not random numbers): moving averages, MACD,
//! RSI, KDJ and Bollinger bands, each `None` until its window is full.

pub struct Indicators {
    pub ma5: Vec<Option<f64>>,
    pub ma10: Vec<Option<f64>>,
    pub ma20: Vec<Option<f64>>,
    pub ema12: Vec<f64>,
    pub ema26: Vec<f64>,
    pub macd: Vec<f64>,
    pub macd_signal: Vec<f64>,
    pub rsi14: Vec<Option<f64>>,
    pub kdj: Vec<(f64, f64, f64)>,
    pub boll: Vec<Option<(f64, f64, f64)>>,
}

fn sma(x: &[f64], n: usize) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|i| (i + 1 >= n).then(|| x[i + 1 - n..=i].iter().sum::<f64>() / n as f64))
        .collect()
}

fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let k = 2.0 / (n as f64 + 1.0);
    let mut out = Vec::with_capacity(x.len());
    for (i, v) in x.iter().enumerate() {
        out.push(if i == 0 {
            *v
        } else {
            out[i - 1] + k * (v - out[i - 1])
        });
    }
    out
}

pub fn compute(close: &[f64], high: &[f64], low: &[f64]) -> Indicators {
    let ema12 = ema(close, 12);
    let ema26 = ema(close, 26);
    let macd: Vec<f64> = ema12.iter().zip(&ema26).map(|(a, b)| a - b).collect();
    let macd_signal = ema(&macd, 9);
    let rsi14 = (0..close.len())
        .map(|i| {
            (i >= 14).then(|| {
                let (mut up, mut down) = (0.0, 0.0);
                for j in i - 13..=i {
                    let d = close[j] - close[j - 1];
                    if d > 0.0 {
                        up += d
                    } else {
                        down -= d
                    }
                }
                if down == 0.0 {
                    100.0
                } else {
                    100.0 - 100.0 / (1.0 + up / down)
                }
            })
        })
        .collect();
    let mut kdj = Vec::with_capacity(close.len());
    let (mut k, mut d) = (50.0, 50.0);
    for i in 0..close.len() {
        let from = i.saturating_sub(8);
        let hh = high[from..=i].iter().cloned().fold(f64::MIN, f64::max);
        let ll = low[from..=i].iter().cloned().fold(f64::MAX, f64::min);
        let rsv = if hh > ll {
            (close[i] - ll) / (hh - ll) * 100.0
        } else {
            50.0
        };
        k = 2.0 / 3.0 * k + rsv / 3.0;
        d = 2.0 / 3.0 * d + k / 3.0;
        kdj.push((k, d, 3.0 * k - 2.0 * d));
    }
    let ma20 = sma(close, 20);
    let boll = (0..close.len())
        .map(|i| {
            ma20[i].map(|mid| {
                let var = close[i + 1 - 20..=i]
                    .iter()
                    .map(|c| (c - mid).powi(2))
                    .sum::<f64>()
                    / 20.0;
                let sd = var.sqrt();
                (mid + 2.0 * sd, mid, mid - 2.0 * sd)
            })
        })
        .collect();
    Indicators {
        ma5: sma(close, 5),
        ma10: sma(close, 10),
        ma20,
        ema12,
        ema26,
        macd,
        macd_signal,
        rsi14,
        kdj,
        boll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_and_rsi_match_hand_values() {
        let close: Vec<f64> = (1..=30).map(f64::from).collect();
        let ind = compute(&close, &close, &close);
        assert_eq!(ind.ma5[3], None);
        assert_eq!(ind.ma5[4], Some(3.0));
        assert_eq!(ind.ma20[19], Some(10.5));
        // A strictly rising series has no down moves.
        assert_eq!(ind.rsi14[20], Some(100.0));
        let (upper, mid, lower) = ind.boll[19].unwrap();
        assert!((mid - 10.5).abs() < 1e-12 && upper > mid && lower < mid);
    }
}
