select address_line, house_number, street, postal_code, city, country_code
from accounts where id = $1 for update
