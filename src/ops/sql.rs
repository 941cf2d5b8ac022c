//! A statement being built: SQL text with placeholders and its bound values,
//! kept together so a value can never end up in the text.

use crate::backend::{Dialect, Value};

pub struct Stmt<'d> {
    dialect: &'d dyn Dialect,
    pub text: String,
    pub params: Vec<Value>,
}

impl<'d> Stmt<'d> {
    pub fn new(dialect: &'d dyn Dialect) -> Self {
        Stmt {
            dialect,
            text: String::new(),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        self.dialect.placeholder(self.params.len())
    }

    /// A validated identifier, quoted by the dialect.
    pub fn ident(&self, name: &str) -> String {
        self.dialect.quote_ident(name)
    }

    pub fn dialect(&self) -> &'d dyn Dialect {
        self.dialect
    }
}
