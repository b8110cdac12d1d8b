//! Binding a query's arguments in one call: `.bind_all((a, b, c))` binds `$1`, `$2`, `$3` in
//! order, where a chain of `.bind(..)` calls would repeat itself line by line.

use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Encode, Type};

/// A query that takes its arguments one at a time (`query`, `query_as`, `query_scalar`).
pub trait Bind<'q>: Sized {
    /// Binds the next argument.
    #[must_use]
    fn bind_one<T: 'q + Encode<'q, Postgres> + Type<Postgres>>(self, value: T) -> Self;

    /// Binds every value of the tuple, in order, as the next arguments.
    #[must_use]
    fn bind_all<V: BindValues<'q>>(self, values: V) -> Self {
        values.bind_to(self)
    }
}

impl<'q> Bind<'q> for Query<'q, Postgres, PgArguments> {
    fn bind_one<T: 'q + Encode<'q, Postgres> + Type<Postgres>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> Bind<'q> for QueryAs<'q, Postgres, O, PgArguments> {
    fn bind_one<T: 'q + Encode<'q, Postgres> + Type<Postgres>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> Bind<'q> for QueryScalar<'q, Postgres, O, PgArguments> {
    fn bind_one<T: 'q + Encode<'q, Postgres> + Type<Postgres>>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// A tuple of query arguments (two to twenty of them).
pub trait BindValues<'q> {
    /// Binds each value to `query`, first to last.
    fn bind_to<Q: Bind<'q>>(self, query: Q) -> Q;
}

macro_rules! bind_values {
    ($($value:ident)+) => {
        impl<'q, $($value),+> BindValues<'q> for ($($value,)+)
        where
            $($value: 'q + Encode<'q, Postgres> + Type<Postgres>),+
        {
            #[allow(non_snake_case)]
            fn bind_to<Target: Bind<'q>>(self, query: Target) -> Target {
                let ($($value,)+) = self;
                query$(.bind_one($value))+
            }
        }
    };
}

bind_values!(A B);
bind_values!(A B C);
bind_values!(A B C D);
bind_values!(A B C D E);
bind_values!(A B C D E F);
bind_values!(A B C D E F G);
bind_values!(A B C D E F G H);
bind_values!(A B C D E F G H I);
bind_values!(A B C D E F G H I J);
bind_values!(A B C D E F G H I J K);
bind_values!(A B C D E F G H I J K L);
bind_values!(A B C D E F G H I J K L M);
bind_values!(A B C D E F G H I J K L M N);
bind_values!(A B C D E F G H I J K L M N O);
bind_values!(A B C D E F G H I J K L M N O P);
bind_values!(A B C D E F G H I J K L M N O P Q);
bind_values!(A B C D E F G H I J K L M N O P Q R);
bind_values!(A B C D E F G H I J K L M N O P Q R S);
bind_values!(A B C D E F G H I J K L M N O P Q R S T);
