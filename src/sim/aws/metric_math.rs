//! Metric math for the simulated GetMetricData: an expression entry of a request evaluated over
//! the series of the request's other entries (CloudWatch User Guide, "Metric math syntax and
//! functions"). Pure: the caller hands in the series of the metric entries and the grid of
//! timestamps a period has over the request's window.
//!
//! Modelled: numbers, the IDs of other entries (metrics or expressions, returned or not), `+ - * /
//! ^`, unary minus, parentheses, and the functions
//!
//! - ABS, CEIL, FLOOR, LOG, LOG10 (each datapoint), DIFF and RATE (each datapoint against the one
//!   before it): time series to time series;
//! - FILL(ts, value | REPEAT | LINEAR): the missing datapoints of the period's grid filled with the
//!   value, the last value before, or the line between the values around the gap (a gap at the
//!   start, or for LINEAR at the end, stays);
//! - AVG, SUM, MIN, MAX, DATAPOINT_COUNT: a time series to a scalar (`m1 - AVG(m1)`);
//! - PERIOD(metric): the metric's period in seconds; TIME_SERIES(scalar): the scalar at every
//!   timestamp of the grid.
//!
//! Semantics as documented: in arithmetic between two time series a timestamp that one of them
//! lacks counts as 0 there; a scalar applies to every datapoint; a datapoint whose computation
//! divides by zero (or gives anything but a finite number) is dropped; the final result must be a
//! time series. Errors are ValidationErrors worded `Error in expression <id> [<reason>]`, as the
//! console shows `Error in expression e1 [Invalid syntax]`; the reasons other than `Invalid
//! syntax` are paraphrased. Not modelled, and refused with a reason that says so: arrays of time
//! series (`[m1, m2]`, METRICS(), SEARCH), strings, comparison and logical operators, IF and the
//! other documented functions.

use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Datapoints of a time series by timestamp.
pub(crate) type Points = BTreeMap<Timestamp, f64>;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Number(f64),
    /// The ID of another entry of the request.
    Id(String),
    /// A bare uppercase word: REPEAT or LINEAR as FILL's second argument.
    Keyword(String),
    Neg(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// A function the simulator evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    Abs,
    Ceil,
    Floor,
    Log,
    Log10,
    Diff,
    Rate,
    Fill,
    Avg,
    Sum,
    Min,
    Max,
    DatapointCount,
    Period,
    TimeSeries,
}

impl Function {
    fn of(name: &str) -> Option<Function> {
        Some(match name {
            "ABS" => Function::Abs,
            "CEIL" => Function::Ceil,
            "FLOOR" => Function::Floor,
            "LOG" => Function::Log,
            "LOG10" => Function::Log10,
            "DIFF" => Function::Diff,
            "RATE" => Function::Rate,
            "FILL" => Function::Fill,
            "AVG" => Function::Avg,
            "SUM" => Function::Sum,
            "MIN" => Function::Min,
            "MAX" => Function::Max,
            "DATAPOINT_COUNT" => Function::DatapointCount,
            "PERIOD" => Function::Period,
            "TIME_SERIES" => Function::TimeSeries,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Abs => "ABS",
            Function::Ceil => "CEIL",
            Function::Floor => "FLOOR",
            Function::Log => "LOG",
            Function::Log10 => "LOG10",
            Function::Diff => "DIFF",
            Function::Rate => "RATE",
            Function::Fill => "FILL",
            Function::Avg => "AVG",
            Function::Sum => "SUM",
            Function::Min => "MIN",
            Function::Max => "MAX",
            Function::DatapointCount => "DATAPOINT_COUNT",
            Function::Period => "PERIOD",
            Function::TimeSeries => "TIME_SERIES",
        }
    }

    fn arity(self) -> usize {
        match self {
            Function::Fill => 2,
            _ => 1,
        }
    }
}

/// Functions CloudWatch documents that the simulator does not evaluate (told apart from names
/// CloudWatch does not know).
const NOT_MODELLED: &[&str] = &[
    "ANOMALY_DETECTION_BAND",
    "CONCAT",
    "DATE",
    "DAY",
    "DB_PERF_INSIGHTS",
    "DIFF_TIME",
    "EPOCH",
    "FIRST",
    "HOUR",
    "IF",
    "INSIGHT_RULE_METRIC",
    "LAMBDA",
    "LAST",
    "METRICS",
    "METRIC_COUNT",
    "MINUTE",
    "MONTH",
    "REMOVE_EMPTY",
    "RUNNING_SUM",
    "SEARCH",
    "SERVICE_QUOTA",
    "SLICE",
    "SORT",
    "STDDEV",
    "YEAR",
];

/// Why an expression cannot be evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MathError {
    Syntax,
    UnknownId(String),
    UnknownFunction(String),
    /// Valid in CloudWatch, not modelled by the simulator.
    NotModelled(String),
    Arguments(String),
    Circular(String),
    ScalarResult,
}

impl fmt::Display for MathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MathError::Syntax => write!(f, "Invalid syntax"),
            MathError::UnknownId(id) => write!(f, "Unrecognized metric or expression ID: {id}"),
            MathError::UnknownFunction(name) => write!(f, "Unrecognized function: {name}"),
            MathError::NotModelled(what) => {
                write!(
                    f,
                    "{what} is valid in CloudWatch but not modelled by the simulator"
                )
            }
            MathError::Arguments(message) => write!(f, "{message}"),
            MathError::Circular(id) => write!(f, "Circular reference to {id}"),
            MathError::ScalarResult => write!(
                f,
                "The final result of a math expression must be a time series, not a scalar"
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Id(String),
    Word(String),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, MathError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '0'..='9' | '.' => {
                let from = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                    i += 1;
                    if i < chars.len() && matches!(chars[i], '+' | '-') {
                        i += 1;
                    }
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let text: String = chars[from..i].iter().collect();
                out.push(Token::Number(text.parse().map_err(|_| MathError::Syntax)?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let from = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[from..i].iter().collect();
                if c.is_ascii_lowercase() {
                    out.push(Token::Id(word));
                } else if c.is_ascii_uppercase() {
                    out.push(Token::Word(word));
                } else {
                    return Err(MathError::Syntax);
                }
            }
            '+' | '-' | '*' | '/' | '^' => {
                out.push(Token::Op(match c {
                    '+' => Op::Add,
                    '-' => Op::Sub,
                    '*' => Op::Mul,
                    '/' => Op::Div,
                    _ => Op::Pow,
                }));
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '[' | ']' => return Err(MathError::NotModelled("An array of time series".into())),
            '"' | '\'' => return Err(MathError::NotModelled("A string".into())),
            '<' | '>' | '=' | '!' | '&' | '|' => {
                return Err(MathError::NotModelled(
                    "A comparison or logical operator".into(),
                ));
            }
            _ => return Err(MathError::Syntax),
        }
    }
    Ok(out)
}

/// Recursive descent over the tokens: sum := product (('+' | '-') product)*, product := unary
/// (('*' | '/') unary)*, unary := '-' unary | power, power := primary ('^' unary)?.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn sum(&mut self) -> Result<Expr, MathError> {
        let mut left = self.product()?;
        while let Some(Token::Op(op @ (Op::Add | Op::Sub))) = self.peek() {
            let op = *op;
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, MathError> {
        let mut left = self.unary()?;
        while let Some(Token::Op(op @ (Op::Mul | Op::Div))) = self.peek() {
            let op = *op;
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, MathError> {
        if self.peek() == Some(&Token::Op(Op::Sub)) {
            self.at += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        let base = self.primary()?;
        if self.peek() == Some(&Token::Op(Op::Pow)) {
            self.at += 1;
            return Ok(Expr::Binary(
                Op::Pow,
                Box::new(base),
                Box::new(self.unary()?),
            ));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, MathError> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Id(id)) => {
                if self.peek() == Some(&Token::Open) {
                    // Functions are uppercase; `abs(m1)` is not one.
                    return Err(MathError::Syntax);
                }
                Ok(Expr::Id(id))
            }
            Some(Token::Word(word)) => {
                if self.peek() != Some(&Token::Open) {
                    return Ok(Expr::Keyword(word));
                }
                self.at += 1;
                let function = match Function::of(&word) {
                    Some(function) => function,
                    None if NOT_MODELLED.contains(&word.as_str()) => {
                        return Err(MathError::NotModelled(format!("The function {word}")));
                    }
                    None => return Err(MathError::UnknownFunction(word)),
                };
                let mut args = Vec::new();
                if self.peek() != Some(&Token::Close) {
                    loop {
                        args.push(self.sum()?);
                        match self.next() {
                            Some(Token::Comma) => continue,
                            Some(Token::Close) => break,
                            _ => return Err(MathError::Syntax),
                        }
                    }
                } else {
                    self.at += 1;
                }
                if args.len() != function.arity() {
                    return Err(MathError::Arguments(format!(
                        "{} takes {} argument{}, not {}",
                        function.name(),
                        function.arity(),
                        if function.arity() == 1 { "" } else { "s" },
                        args.len()
                    )));
                }
                Ok(Expr::Call(function, args))
            }
            Some(Token::Open) => {
                let inner = self.sum()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(MathError::Syntax),
                }
            }
            _ => Err(MathError::Syntax),
        }
    }
}

/// Parses an expression.
pub(crate) fn parse(text: &str) -> Result<Expr, MathError> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let expr = parser.sum()?;
    if parser.at != parser.tokens.len() {
        return Err(MathError::Syntax);
    }
    Ok(expr)
}

/// The value of an expression or of part of one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    Series(Points),
}

fn apply(op: Op, a: f64, b: f64) -> f64 {
    match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        Op::Pow => a.powf(b),
    }
}

/// The datapoints of `points` mapped by `f`, those that stop being finite dropped (a division by
/// zero drops its datapoint).
fn map_points(points: &Points, f: impl Fn(f64) -> f64) -> Points {
    points
        .iter()
        .map(|(t, v)| (*t, f(*v)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

fn combine(op: Op, left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(apply(op, a, b)),
        (Value::Series(p), Value::Scalar(b)) => Value::Series(map_points(&p, |a| apply(op, a, b))),
        (Value::Scalar(a), Value::Series(p)) => Value::Series(map_points(&p, |b| apply(op, a, b))),
        (Value::Series(p), Value::Series(q)) => {
            // Missing values count as 0 (User Guide, "Basic arithmetic functions").
            let mut out = Points::new();
            for t in p.keys().chain(q.keys()) {
                let a = p.get(t).copied().unwrap_or(0.0);
                let b = q.get(t).copied().unwrap_or(0.0);
                let v = apply(op, a, b);
                if v.is_finite() {
                    out.insert(*t, v);
                }
            }
            Value::Series(out)
        }
    }
}

/// A metric entry's datapoints and period.
pub(crate) struct MetricInput {
    pub points: Points,
    pub period_seconds: i64,
}

/// An expression entry, parsed, with its period.
pub(crate) struct ExpressionInput {
    pub expr: Expr,
    pub period_seconds: i64,
}

/// The expressions of one request evaluated over its metrics, each at most once.
pub(crate) struct Evaluation<'a> {
    pub metrics: &'a HashMap<String, MetricInput>,
    pub expressions: &'a HashMap<String, ExpressionInput>,
    /// The timestamps a period has over the request's window (for FILL and TIME_SERIES).
    pub grid: &'a dyn Fn(i64) -> Vec<Timestamp>,
    done: HashMap<String, Value>,
    in_progress: Vec<String>,
}

impl<'a> Evaluation<'a> {
    pub fn new(
        metrics: &'a HashMap<String, MetricInput>,
        expressions: &'a HashMap<String, ExpressionInput>,
        grid: &'a dyn Fn(i64) -> Vec<Timestamp>,
    ) -> Self {
        Evaluation {
            metrics,
            expressions,
            grid,
            done: HashMap::new(),
            in_progress: Vec::new(),
        }
    }

    /// The datapoints of the expression entry `id`.
    pub fn series(&mut self, id: &str) -> Result<Points, MathError> {
        match self.entry(id)? {
            Value::Series(points) => Ok(points),
            Value::Scalar(_) => Err(MathError::ScalarResult),
        }
    }

    fn entry(&mut self, id: &str) -> Result<Value, MathError> {
        if let Some(metric) = self.metrics.get(id) {
            return Ok(Value::Series(metric.points.clone()));
        }
        if let Some(value) = self.done.get(id) {
            return Ok(value.clone());
        }
        let Some(expression) = self.expressions.get(id) else {
            return Err(MathError::UnknownId(id.to_owned()));
        };
        if self.in_progress.iter().any(|e| e == id) {
            return Err(MathError::Circular(id.to_owned()));
        }
        self.in_progress.push(id.to_owned());
        let value = self.eval(&expression.expr, expression.period_seconds);
        self.in_progress.pop();
        let value = value?;
        self.done.insert(id.to_owned(), value.clone());
        Ok(value)
    }

    fn eval(&mut self, expr: &Expr, period: i64) -> Result<Value, MathError> {
        match expr {
            Expr::Number(n) => Ok(Value::Scalar(*n)),
            Expr::Id(id) => self.entry(id),
            Expr::Keyword(_) => Err(MathError::Syntax),
            Expr::Neg(inner) => Ok(combine(
                Op::Mul,
                Value::Scalar(-1.0),
                self.eval(inner, period)?,
            )),
            Expr::Binary(op, left, right) => {
                let left = self.eval(left, period)?;
                let right = self.eval(right, period)?;
                Ok(combine(*op, left, right))
            }
            Expr::Call(function, args) => self.call(*function, args, period),
        }
    }

    fn series_argument(
        &mut self,
        function: Function,
        arg: &Expr,
        period: i64,
    ) -> Result<Points, MathError> {
        match self.eval(arg, period)? {
            Value::Series(points) => Ok(points),
            Value::Scalar(_) => Err(MathError::Arguments(format!(
                "{} takes a time series",
                function.name()
            ))),
        }
    }

    fn call(&mut self, function: Function, args: &[Expr], period: i64) -> Result<Value, MathError> {
        let each = |value: Value, f: fn(f64) -> f64| match value {
            Value::Scalar(v) => Value::Scalar(f(v)),
            Value::Series(points) => Value::Series(map_points(&points, f)),
        };
        match function {
            Function::Abs => Ok(each(self.eval(&args[0], period)?, f64::abs)),
            Function::Ceil => Ok(each(self.eval(&args[0], period)?, f64::ceil)),
            Function::Floor => Ok(each(self.eval(&args[0], period)?, f64::floor)),
            Function::Log => Ok(each(self.eval(&args[0], period)?, f64::ln)),
            Function::Log10 => Ok(each(self.eval(&args[0], period)?, f64::log10)),
            Function::Diff | Function::Rate => {
                let points = self.series_argument(function, &args[0], period)?;
                let mut out = Points::new();
                for ((t0, v0), (t1, v1)) in points.iter().zip(points.iter().skip(1)) {
                    let delta = v1 - v0;
                    let v = if function == Function::Rate {
                        delta / t1.duration_since(*t0).as_secs_f64()
                    } else {
                        delta
                    };
                    if v.is_finite() {
                        out.insert(*t1, v);
                    }
                }
                Ok(Value::Series(out))
            }
            Function::Fill => {
                let points = self.series_argument(function, &args[0], period)?;
                let grid = (self.grid)(period);
                let filler = match &args[1] {
                    Expr::Keyword(word) if word == "REPEAT" || word == "LINEAR" => None,
                    Expr::Keyword(_) => return Err(MathError::Syntax),
                    other => match self.eval(other, period)? {
                        Value::Scalar(v) => Some(v),
                        Value::Series(_) => {
                            return Err(MathError::NotModelled(
                                "FILL with a time series as the filler".into(),
                            ));
                        }
                    },
                };
                let linear = matches!(&args[1], Expr::Keyword(w) if w == "LINEAR");
                Ok(Value::Series(fill(&points, &grid, filler, linear)))
            }
            Function::Avg
            | Function::Sum
            | Function::Min
            | Function::Max
            | Function::DatapointCount => {
                let points = self.series_argument(function, &args[0], period)?;
                let values = points.values().copied();
                let n = points.len() as f64;
                // No datapoints: no value (NaN drops every datapoint it is combined with), except
                // for the count, which is 0.
                Ok(Value::Scalar(match function {
                    Function::Avg => values.sum::<f64>() / n,
                    Function::Sum if n == 0.0 => f64::NAN,
                    Function::Sum => values.sum(),
                    Function::Min if n == 0.0 => f64::NAN,
                    Function::Min => values.fold(f64::INFINITY, f64::min),
                    Function::Max if n == 0.0 => f64::NAN,
                    Function::Max => values.fold(f64::NEG_INFINITY, f64::max),
                    _ => n,
                }))
            }
            Function::Period => match &args[0] {
                Expr::Id(id) => match self.metrics.get(id) {
                    Some(metric) => Ok(Value::Scalar(metric.period_seconds as f64)),
                    None if self.expressions.contains_key(id) => Err(MathError::Arguments(
                        "PERIOD takes a metric, not the result of an expression".into(),
                    )),
                    None => Err(MathError::UnknownId(id.clone())),
                },
                _ => Err(MathError::Arguments("PERIOD takes a metric".into())),
            },
            Function::TimeSeries => match self.eval(&args[0], period)? {
                Value::Scalar(v) if v.is_finite() => Ok(Value::Series(
                    (self.grid)(period).into_iter().map(|t| (t, v)).collect(),
                )),
                Value::Scalar(_) => Ok(Value::Series(Points::new())),
                Value::Series(_) => Err(MathError::Arguments("TIME_SERIES takes a scalar".into())),
            },
        }
    }
}

/// FILL: the grid's missing timestamps get `value`, or (`None`) the last value before them or,
/// when `linear`, the line between the values around the gap.
fn fill(points: &Points, grid: &[Timestamp], value: Option<f64>, linear: bool) -> Points {
    let mut out = points.clone();
    for t in grid {
        if points.contains_key(t) {
            continue;
        }
        let before = points.range(..*t).next_back();
        let filled = match (value, linear) {
            (Some(v), _) => Some(v),
            (None, false) => before.map(|(_, v)| *v),
            (None, true) => {
                let after = points.range(*t..).next();
                match (before, after) {
                    (Some((t0, v0)), Some((t1, v1))) => {
                        let span = t1.duration_since(*t0).as_secs_f64();
                        let along = t.duration_since(*t0).as_secs_f64();
                        Some(v0 + (v1 - v0) * along / span)
                    }
                    _ => None,
                }
            }
        };
        if let Some(v) = filled.filter(|v| v.is_finite()) {
            out.insert(*t, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + minute * 60).expect("valid")
    }

    fn points(values: &[(i64, f64)]) -> Points {
        values.iter().map(|(m, v)| (at(*m), *v)).collect()
    }

    /// Evaluates `text` as the expression `e` over the metrics `m1` and `m2` (period 60) on a
    /// grid of minutes 0-4.
    fn eval(text: &str, m1: &[(i64, f64)], m2: &[(i64, f64)]) -> Result<Points, MathError> {
        let metrics: HashMap<String, MetricInput> = [("m1", m1), ("m2", m2)]
            .into_iter()
            .map(|(id, values)| {
                (
                    id.to_owned(),
                    MetricInput {
                        points: points(values),
                        period_seconds: 60,
                    },
                )
            })
            .collect();
        let expressions: HashMap<String, ExpressionInput> = [(
            "e".to_owned(),
            ExpressionInput {
                expr: parse(text)?,
                period_seconds: 60,
            },
        )]
        .into_iter()
        .collect();
        let grid = |period: i64| (0..5).map(|m| at(m * period / 60)).collect();
        Evaluation::new(&metrics, &expressions, &grid).series("e")
    }

    #[test]
    fn operators_follow_precedence_and_unary_minus() {
        let m1 = [(0, 2.0)];
        assert_eq!(eval("1 + 2 * m1 ^ 2", &m1, &[]), Ok(points(&[(0, 9.0)])));
        assert_eq!(eval("-(m1 - 5) / 3", &m1, &[]), Ok(points(&[(0, 1.0)])));
        assert_eq!(eval("2 ^ -m1 * 4", &m1, &[]), Ok(points(&[(0, 1.0)])));
        assert_eq!(eval("100 * m1 / 1e2", &m1, &[]), Ok(points(&[(0, 2.0)])));
    }

    #[test]
    fn series_align_by_timestamp_and_a_missing_value_counts_as_zero() {
        let got = eval("m1 + m2", &[(0, 1.0), (1, 2.0)], &[(1, 10.0), (2, 20.0)]);
        assert_eq!(got, Ok(points(&[(0, 1.0), (1, 12.0), (2, 20.0)])));
    }

    #[test]
    fn a_division_by_zero_drops_its_datapoint() {
        let got = eval(
            "m1 / m2",
            &[(0, 1.0), (1, 3.0), (2, 0.0)],
            &[(0, 0.0), (1, 6.0)],
        );
        assert_eq!(
            got,
            Ok(points(&[(1, 0.5)])),
            "1/0 and 0/missing (0/0) are dropped"
        );
    }

    #[test]
    fn fill_completes_the_grid_with_a_value_the_last_value_or_a_line() {
        let m1 = [(1, 2.0), (3, 6.0)];
        assert_eq!(
            eval("FILL(m1, 0)", &m1, &[]),
            Ok(points(&[(0, 0.0), (1, 2.0), (2, 0.0), (3, 6.0), (4, 0.0)]))
        );
        assert_eq!(
            eval("FILL(m1, REPEAT)", &m1, &[]),
            Ok(points(&[(1, 2.0), (2, 2.0), (3, 6.0), (4, 6.0)]))
        );
        assert_eq!(
            eval("FILL(m1, LINEAR)", &m1, &[]),
            Ok(points(&[(1, 2.0), (2, 4.0), (3, 6.0)]))
        );
        assert_eq!(
            eval("FILL(m1, MIN(m1))", &m1, &[]),
            Ok(points(&[(0, 2.0), (1, 2.0), (2, 2.0), (3, 6.0), (4, 2.0)]))
        );
    }

    #[test]
    fn aggregates_of_a_series_are_scalars_inside_a_series_expression() {
        let m1 = [(0, 1.0), (1, 3.0)];
        assert_eq!(
            eval("m1 - AVG(m1)", &m1, &[]),
            Ok(points(&[(0, -1.0), (1, 1.0)]))
        );
        assert_eq!(
            eval(
                "m1 / SUM(m1) * DATAPOINT_COUNT(m1) + MAX(m1) - MIN(m1)",
                &m1,
                &[]
            ),
            Ok(points(&[(0, 2.5), (1, 3.5)]))
        );
        assert_eq!(eval("AVG(m1)", &m1, &[]), Err(MathError::ScalarResult));
    }

    #[test]
    fn elementwise_functions_and_differences() {
        let m1 = [(0, -1.5), (1, 2.5), (2, 8.5)];
        assert_eq!(
            eval("ABS(CEIL(m1))", &m1, &[]),
            Ok(points(&[(0, 1.0), (1, 3.0), (2, 9.0)]))
        );
        assert_eq!(
            eval("DIFF(m1)", &m1, &[]),
            Ok(points(&[(1, 4.0), (2, 6.0)]))
        );
        assert_eq!(
            eval("RATE(m1) * 60", &m1, &[]),
            Ok(points(&[(1, 4.0), (2, 6.0)]))
        );
        assert_eq!(
            eval("m1 * 0 + PERIOD(m1)", &m1, &[]),
            Ok(points(&[(0, 60.0), (1, 60.0), (2, 60.0)]))
        );
        assert_eq!(
            eval("TIME_SERIES(7)", &[], &[]),
            Ok(points(&[(0, 7.0), (1, 7.0), (2, 7.0), (3, 7.0), (4, 7.0)]))
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            eval("m1 + m3", &[], &[]),
            Err(MathError::UnknownId("m3".into()))
        );
        assert_eq!(eval("m1 +", &[], &[]), Err(MathError::Syntax));
        assert_eq!(eval("(m1", &[], &[]), Err(MathError::Syntax));
        assert_eq!(eval("abs(m1)", &[], &[]), Err(MathError::Syntax));
        assert_eq!(
            eval("MEDIAN(m1)", &[], &[]),
            Err(MathError::UnknownFunction("MEDIAN".into()))
        );
        assert!(matches!(
            eval("SUM([m1, m2])", &[], &[]),
            Err(MathError::NotModelled(_))
        ));
        assert!(matches!(
            eval("IF(m1, m2)", &[], &[]),
            Err(MathError::NotModelled(_))
        ));
        assert!(matches!(
            eval("FILL(m1)", &[], &[]),
            Err(MathError::Arguments(_))
        ));
        assert_eq!(
            eval("e + 1", &[], &[]),
            Err(MathError::Circular("e".into()))
        );
    }
}
