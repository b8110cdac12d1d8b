//! SQL for users and teams (the text of every auth query is in `auth/sql/`, one file each).

use crate::db::Bind;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Role, User};

pub async fn user_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(include_str!("sql/users_by_id.sql"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn user_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(include_str!("sql/users_by_email.sql"))
        .bind(email)
        .fetch_optional(db)
        .await
}

/// Users who have a role, admins first, for the demo sign-in page.
pub async fn users_with_roles(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(include_str!("sql/users_with_roles.sql"))
        .fetch_all(db)
        .await
}

/// Reps in the teams `manager_user_id` manages.
pub async fn team_rep_ids(
    db: impl PgExecutor<'_>,
    manager_user_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/users_team_rep_ids.sql"))
        .bind(manager_user_id)
        .fetch_all(db)
        .await
}

pub async fn touch_sign_in(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/users_touch_sign_in.sql"))
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn user_by_id_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(include_str!("sql/users_by_id_for_update.sql"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// `None` when the rep doesn't exist; `Some(user)` with the user linked to it, if any.
pub async fn rep_link(
    db: impl PgExecutor<'_>,
    rep_id: Uuid,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/users_rep_link.sql"))
        .bind(rep_id)
        .fetch_optional(db)
        .await
}

pub async fn set_role(
    db: impl PgExecutor<'_>,
    id: Uuid,
    role: Option<super::Role>,
    rep_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/users_set_role.sql"))
        .bind_all((id, role, rep_id))
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_disabled(
    db: impl PgExecutor<'_>,
    id: Uuid,
    disabled: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/users_set_disabled.sql"))
        .bind_all((id, disabled))
        .execute(db)
        .await
        .map(|_| ())
}

/// Locks every enabled admin's row, in id order (the target's too, so two admins acting on
/// each other cannot deadlock), and counts those other than `except`.
pub async fn lock_other_enabled_admins(
    db: impl PgExecutor<'_>,
    except: Uuid,
) -> Result<usize, sqlx::Error> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar(include_str!("sql/users_lock_other_enabled_admins.sql"))
            .fetch_all(db)
            .await?;
    Ok(ids.iter().filter(|id| **id != except).count())
}

/// One row of the admin's user list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Option<super::Role>,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub last_sign_in_at: Option<chrono::DateTime<chrono::Utc>>,
    pub disabled: bool,
}

impl UserRow {
    /// The value of the role select that shows this user's role (`""`: no access).
    pub fn role_value(&self) -> &'static str {
        self.role.map_or("", super::Role::as_str)
    }

    /// Whether this user is linked to the rep record `rep`.
    pub fn links_rep(&self, rep: &Uuid) -> bool {
        self.rep_id == Some(*rep)
    }
}

pub async fn all_users(db: impl PgExecutor<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(include_str!("sql/users_all.sql"))
        .fetch_all(db)
        .await
}

/// Reps for the "link to rep" choice.
pub async fn all_reps(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(include_str!("sql/users_all_reps.sql"))
        .fetch_all(db)
        .await
}

pub async fn user_by_subject(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/users_by_subject.sql"))
        .bind_all((issuer, subject))
        .fetch_optional(db)
        .await
}

/// Links the user with this email to the identity, or creates one without a role. `None` when
/// the email's user is already linked to a different identity.
pub async fn link_or_create(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    issuer: &str,
    subject: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/users_link_or_create.sql"))
        .bind_all((email, name, issuer, subject))
        .fetch_optional(db)
        .await
}

/// Inserts or updates a user by e-mail address without rewriting an unchanged row (the demo
/// seed's sign-in identities); returns its id.
pub async fn upsert_by_email(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    role: Role,
    rep_id: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query(include_str!("sql/users_upsert_by_email.sql"))
        .bind_all((email, name, role, rep_id))
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(include_str!("sql/users_id_by_email.sql"))
        .bind(email)
        .fetch_one(&mut *conn)
        .await
}

/// Sets whether a user may see precise live positions; false when there is no such user.
pub async fn set_live_precise(
    db: impl PgExecutor<'_>,
    id: Uuid,
    allowed: bool,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(include_str!("sql/users_set_live_precise.sql"))
        .bind_all((id, allowed))
        .execute(db)
        .await?
        .rows_affected();
    Ok(changed > 0)
}

/// Whether the user was given precise live positions.
pub async fn live_precise(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let allowed: Option<bool> = sqlx::query_scalar(include_str!("sql/users_live_precise.sql"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(allowed.unwrap_or(false))
}
