//! Trading days from `trade_calendar` when it has rows (a day is open when any exchange trades), else
//! Monday to Friday.

use std::collections::HashMap;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type};

use crate::{Dal, Load};

pub(crate) struct Calendar {
    /// Days since the epoch → open.
    days: HashMap<i64, bool>,
}

impl Calendar {
    pub async fn load(dal: &Dal) -> Calendar {
        let mut days = HashMap::new();
        if dal.spec("trade_calendar").is_ok() {
            let load = Load::all().columns(["cal_date", "is_open"]);
            // A calendar that cannot be read is treated as absent: the checks fall back to weekdays.
            if let Ok(batches) = dal.load("trade_calendar", load).await {
                for b in batches {
                    let (Some(date), Some(open)) =
                        (b.column_by_name("cal_date"), b.column_by_name("is_open"))
                    else {
                        continue;
                    };
                    let Ok(date) = cast(date, &DataType::Date32) else {
                        continue;
                    };
                    let date = date.as_primitive::<Date32Type>();
                    let open = open.as_boolean();
                    for (d, o) in date.iter().zip(open.iter()) {
                        if let (Some(d), Some(o)) = (d, o) {
                            let e = days.entry(i64::from(d)).or_insert(false);
                            *e |= o;
                        }
                    }
                }
            }
        }
        Calendar { days }
    }

    pub fn has_rows(&self) -> bool {
        !self.days.is_empty()
    }

    pub fn is_open(&self, day: i64) -> bool {
        match self.days.get(&day) {
            Some(open) => *open,
            // 1970-01-01 was a Thursday: day 0 → weekday index 3 (Monday = 0).
            None => (day + 3).rem_euclid(7) < 5,
        }
    }

    /// Closed days strictly between the days of two instants: what trading-time ages leave out.
    pub fn closed_days_between(&self, from_day: i64, to_day: i64) -> i64 {
        ((from_day + 1)..to_day)
            .filter(|&d| !self.is_open(d))
            .count() as i64
    }

    /// The `n` most recent open days up to and including `today`, oldest first.
    pub fn open_days_back(&self, today: i64, n: u32) -> Vec<i64> {
        let mut out = Vec::new();
        let mut d = today;
        // Bounded: a calendar with no open day in ten years yields nothing rather than looping.
        while out.len() < n as usize && today - d < 3650 {
            if self.is_open(d) {
                out.push(d);
            }
            d -= 1;
        }
        out.reverse();
        out
    }
}
