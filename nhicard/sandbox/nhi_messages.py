"""The sandbox NHI registration site's own messages (shown in 「系統訊息 System Message」).

The real site's wording is not public; these follow the manual's bilingual style. Clients find
them through the profile's markers (``nhicard/sites/sandbox.toml``), e.g. 「已完成註冊」 for
an already registered card and 「逾時」 for an expired session.
"""

from __future__ import annotations

from nhicard.core.i18n import T

AGENT_MISSING = "請檢查元件是否已正確安裝且啟動。"

READ_HINT = T(
    "請插入健保卡後,按『讀取』檢查健保卡",
    'Please insert the NHI card into the Smart IC card reader, and click "Read" to verify '
    "the NHI card.",
)
APPLY_HINT = T(
    "請插入健保卡並輸入戶號及戶籍鄉鎮里鄰後按【下一步】",
    "Please insert the NHI card, enter the Household ID number and Household Registration "
    'Address and click "Next".',
)
READ_OK = T("健保卡讀取成功。", "The NHI card was read.")
VERIFY_READ_OK = T(
    "健保卡讀取成功,請按『確定』完成認證。", 'The NHI card was read. Click "OK" to finish.'
)
NOT_READ = T("請先插入健保卡並按『讀取』。", 'Please insert the NHI card and click "Read" first.')
CARD_NOT_VERIFIED = T(
    "健保卡驗證失敗,請重新讀取。", "The NHI card could not be verified. Please read it again."
)
CARD_DATA_MISMATCH = T("健保卡資料與本署資料不符。", "The card data do not match the NHI records.")
HOUSEHOLD_REQUIRED = T("請輸入戶號。", "Please enter the household ID number.")
HOUSEHOLD_FORMAT = T(
    "戶號格式錯誤,應為8碼英文字母或數字。",
    "The household ID number must be 8 letters or digits.",
)
ADDRESS_REQUIRED = T(
    "請選擇戶籍縣市、鄉鎮市區、村里並輸入鄰。",
    "Please choose the city/county, district/township and village, and enter the neighborhood.",
)
NEIGHBORHOOD_FORMAT = T("鄰應為1至3位數字。", "The neighborhood must be a number of 1 to 3 digits.")
HOUSEHOLD_MISMATCH = T(
    "戶號或戶籍地址與戶籍資料不符,請確認後重新輸入。",
    "The household ID number or household registration address does not match the household "
    "registration records.",
)
ALREADY_REGISTERED = T(
    "此健保卡已完成註冊,請直接登入。", "This NHI card is already registered. Please log in."
)
PASSWORD_LENGTH = T(
    "註冊密碼長度須為6至12碼。", "The registration password must be 6 to 12 characters."
)
PASSWORD_CHARS = T(
    "註冊密碼僅限英文字母、數字及符號,不可含空白。",
    "The registration password may contain letters, digits and symbols only, no spaces.",
)
PASSWORD_CONFIRM = T("兩次輸入的註冊密碼不一致。", "The two registration passwords do not match.")
EMAIL_FORMAT = T("電子郵件格式錯誤。", "The e-mail address is not valid.")
PHONE_FORMAT = T(
    "聯絡電話格式錯誤(例:02-12345678)。", "The phone number is not valid (e.g. 02-12345678)."
)
MOBILE_FORMAT = T(
    "手機號碼格式錯誤(例:0912345678)。", "The mobile number is not valid (e.g. 0912345678)."
)
MAIL_SENT = T(
    "認證通知信已寄出,請於{hours}小時內至您的電子郵件信箱收信,並點選信中"
    "「健保卡註冊認證作業」連結完成註冊。",
    "The verification mail has been sent. Within {hours} hours, open it and click the link "
    "「健保卡註冊認證作業」 to complete the registration.",
)
MAIL_FAILED = T(
    "認證通知信寄送失敗,請稍後再試。",
    "The verification mail could not be sent. Please try again later.",
)
LINK_UNKNOWN = T("認證連結無效。", "This verification link is not valid.")
LINK_USED = T("此認證連結已使用過。", "This verification link has already been used.")
LINK_EXPIRED = T(
    "認證連結已過期,請重新申請。", "This verification link has expired. Please apply again."
)
WRONG_CARD = T(
    "讀取的健保卡與申請註冊的健保卡不同。",
    "This is not the NHI card the registration was made with.",
)
DONE = T("密碼設定完成", "Your password is set")
DONE_DETAIL = T(
    "健保卡網路服務註冊完成,您可以使用健保卡及註冊密碼登入。",
    "The registration is complete: you can log in with your NHI card and password.",
)
SESSION_EXPIRED = T("連線逾時,請重新操作。", "Your session has timed out. Please start again.")
MAINTENANCE = T(
    "系統維護中,請稍後再試。", "System maintenance in progress. Please try again later."
)
NOT_REGISTERED = T(
    "此健保卡尚未完成註冊,請先申請。",
    "This NHI card is not registered yet. Please register first.",
)
PASSWORD_REQUIRED = T("請輸入密碼。", "Please enter the password.")
WRONG_PASSWORD = T(
    "密碼錯誤,您還有{attempts}次機會。",
    "Wrong password; {attempts} attempt(s) left.",
)
LOCKED = T(
    "密碼錯誤達3次,帳號已鎖定至{until}。",
    "Three wrong passwords: the account is locked until {until}.",
)
REVOKED = T(
    "帳號鎖定已達3次,網路服務已停止,請洽健保署。",
    "The account was locked three times and the online service is revoked. Please contact "
    "the NHI Administration.",
)
LOGGED_IN = T("登入成功", "Logged in")
