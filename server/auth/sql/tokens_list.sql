select id, name, display_prefix, scopes, created_at, last_used_at, revoked_at,
       revoked_reason, expires_at
from api_tokens order by created_at desc
