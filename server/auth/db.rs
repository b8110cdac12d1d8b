//! SQL for users and teams.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::User;

pub async fn user_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "select id, email, name, role, rep_id, disabled from users where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn user_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "select id, email, name, role, rep_id, disabled from users where lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(db)
    .await
}

/// Users who have a role, admins first, for the demo sign-in page.
pub async fn users_with_roles(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "select id, email, name, role, rep_id, disabled from users
         where role is not null and not disabled
         order by role, name",
    )
    .fetch_all(db)
    .await
}

/// Reps in the teams `manager_user_id` manages.
pub async fn team_rep_ids(
    db: impl PgExecutor<'_>,
    manager_user_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select m.rep_id from team_members m join teams t on t.id = m.team_id
         where t.manager_user_id = $1 order by m.rep_id",
    )
    .bind(manager_user_id)
    .fetch_all(db)
    .await
}

pub async fn touch_sign_in(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update users set last_sign_in_at = now() where id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}
