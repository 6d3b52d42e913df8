//! A threshold of the verdict (`>= 0.999`, `== 0`): the stress run judges its figures by it,
//! and the dashboard shows how each stands so far.

/// A parsed threshold: comparison and bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub op: &'static str,
    pub bound: f64,
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        for op in [">=", "<=", "==", "!=", ">", "<"] {
            if let Some(rest) = t.strip_prefix(op) {
                let bound: f64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{text}`: `{}` is not a number", rest.trim()))?;
                return Ok(Self { op, bound });
            }
        }
        Err(format!("`{text}` must start with >=, <=, ==, !=, > or <"))
    }

    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            ">=" => value >= self.bound,
            "<=" => value <= self.bound,
            "==" => (value - self.bound).abs() < 1e-9,
            "!=" => (value - self.bound).abs() >= 1e-9,
            ">" => value > self.bound,
            "<" => value < self.bound,
            _ => false,
        }
    }
}
