select id, scopes, coalesce(last_used_at < now() - interval '1 minute', true)
from api_tokens where token_hash = $1 and revoked_at is null
  and (expires_at is null or expires_at > now())
