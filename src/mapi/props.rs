//! The MAPI properties smsync reads or writes (MS-OXPROPS), with their types. The field
//! table's MAPI column names the ones that carry fields; the others are what a writer adds
//! so that Outlook shows an item as it would have made it (display name, file-as, e-mail
//! display names, task completion).

use super::{Mapi, MapiId, PropSet, PropType, lid, tag};

/// A property and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropDef {
    pub mapi: Mapi,
    pub ty: PropType,
}

impl PropDef {
    pub const fn id(&self) -> MapiId {
        self.mapi.id
    }

    /// The ID of a tagged property (panics for a named one: a programming error).
    pub const fn tag_id(&self) -> u16 {
        match self.mapi.id {
            MapiId::Tag(t) => t,
            _ => panic!("not a tagged property"),
        }
    }
}

const fn def(mapi: Mapi, ty: PropType) -> PropDef {
    PropDef { mapi, ty }
}

use PropType::{Boolean, Double, Long, MvUnicode, SysTime, Unicode};

// Tagged properties of every message.
pub const PID_TAG_MESSAGE_CLASS: PropDef = def(tag("PidTagMessageClass", 0x001A), Unicode);
pub const PID_TAG_IMPORTANCE: PropDef = def(tag("PidTagImportance", 0x0017), Long);
pub const PID_TAG_SUBJECT: PropDef = def(tag("PidTagSubject", 0x0037), Unicode);
pub const PID_TAG_BODY: PropDef = def(tag("PidTagBody", 0x1000), Unicode);
pub const PID_TAG_DISPLAY_NAME: PropDef = def(tag("PidTagDisplayName", 0x3001), Unicode);
pub const PID_TAG_CREATION_TIME: PropDef = def(tag("PidTagCreationTime", 0x3007), SysTime);
pub const PID_TAG_LAST_MODIFICATION_TIME: PropDef =
    def(tag("PidTagLastModificationTime", 0x3008), SysTime);

// Tagged contact properties.
pub const PID_TAG_GIVEN_NAME: PropDef = def(tag("PidTagGivenName", 0x3A06), Unicode);
pub const PID_TAG_BUSINESS_TELEPHONE_NUMBER: PropDef =
    def(tag("PidTagBusinessTelephoneNumber", 0x3A08), Unicode);
pub const PID_TAG_HOME_TELEPHONE_NUMBER: PropDef =
    def(tag("PidTagHomeTelephoneNumber", 0x3A09), Unicode);
pub const PID_TAG_SURNAME: PropDef = def(tag("PidTagSurname", 0x3A11), Unicode);
pub const PID_TAG_COMPANY_NAME: PropDef = def(tag("PidTagCompanyName", 0x3A16), Unicode);
pub const PID_TAG_TITLE: PropDef = def(tag("PidTagTitle", 0x3A17), Unicode);
pub const PID_TAG_DEPARTMENT_NAME: PropDef = def(tag("PidTagDepartmentName", 0x3A18), Unicode);
pub const PID_TAG_OFFICE_LOCATION: PropDef = def(tag("PidTagOfficeLocation", 0x3A19), Unicode);
pub const PID_TAG_MOBILE_TELEPHONE_NUMBER: PropDef =
    def(tag("PidTagMobileTelephoneNumber", 0x3A1C), Unicode);
pub const PID_TAG_OTHER_TELEPHONE_NUMBER: PropDef =
    def(tag("PidTagOtherTelephoneNumber", 0x3A1F), Unicode);
pub const PID_TAG_BUSINESS_FAX_NUMBER: PropDef =
    def(tag("PidTagBusinessFaxNumber", 0x3A24), Unicode);
pub const PID_TAG_BUSINESS_HOME_PAGE: PropDef = def(tag("PidTagBusinessHomePage", 0x3A51), Unicode);

// PSETID_Address: contacts.
const fn address(name: &'static str, id: u16, ty: PropType) -> PropDef {
    def(lid(name, PropSet::Address, id), ty)
}
pub const PID_LID_FILE_UNDER: PropDef = address("PidLidFileUnder", 0x8005, Unicode);
pub const PID_LID_WORK_ADDRESS_STREET: PropDef =
    address("PidLidWorkAddressStreet", 0x8045, Unicode);
pub const PID_LID_WORK_ADDRESS_CITY: PropDef = address("PidLidWorkAddressCity", 0x8046, Unicode);
pub const PID_LID_WORK_ADDRESS_STATE: PropDef = address("PidLidWorkAddressState", 0x8047, Unicode);
pub const PID_LID_WORK_ADDRESS_POSTAL_CODE: PropDef =
    address("PidLidWorkAddressPostalCode", 0x8048, Unicode);
pub const PID_LID_WORK_ADDRESS_COUNTRY: PropDef =
    address("PidLidWorkAddressCountry", 0x8049, Unicode);
pub const PID_LID_CONTACT_USER_FIELD1: PropDef =
    address("PidLidContactUserField1", 0x804F, Unicode);
pub const PID_LID_EMAIL1_DISPLAY_NAME: PropDef =
    address("PidLidEmail1DisplayName", 0x8080, Unicode);
pub const PID_LID_EMAIL1_ADDRESS_TYPE: PropDef =
    address("PidLidEmail1AddressType", 0x8082, Unicode);
pub const PID_LID_EMAIL1_EMAIL_ADDRESS: PropDef =
    address("PidLidEmail1EmailAddress", 0x8083, Unicode);
pub const PID_LID_EMAIL1_ORIGINAL_DISPLAY_NAME: PropDef =
    address("PidLidEmail1OriginalDisplayName", 0x8084, Unicode);
pub const PID_LID_EMAIL2_DISPLAY_NAME: PropDef =
    address("PidLidEmail2DisplayName", 0x8090, Unicode);
pub const PID_LID_EMAIL2_ADDRESS_TYPE: PropDef =
    address("PidLidEmail2AddressType", 0x8092, Unicode);
pub const PID_LID_EMAIL2_EMAIL_ADDRESS: PropDef =
    address("PidLidEmail2EmailAddress", 0x8093, Unicode);
pub const PID_LID_EMAIL2_ORIGINAL_DISPLAY_NAME: PropDef =
    address("PidLidEmail2OriginalDisplayName", 0x8094, Unicode);

// PSETID_Task: tasks.
const fn task(name: &'static str, id: u16, ty: PropType) -> PropDef {
    def(lid(name, PropSet::Task, id), ty)
}
pub const PID_LID_TASK_STATUS: PropDef = task("PidLidTaskStatus", 0x8101, Long);
pub const PID_LID_PERCENT_COMPLETE: PropDef = task("PidLidPercentComplete", 0x8102, Double);
pub const PID_LID_TASK_START_DATE: PropDef = task("PidLidTaskStartDate", 0x8104, SysTime);
pub const PID_LID_TASK_DUE_DATE: PropDef = task("PidLidTaskDueDate", 0x8105, SysTime);
pub const PID_LID_TASK_DATE_COMPLETED: PropDef = task("PidLidTaskDateCompleted", 0x810F, SysTime);
pub const PID_LID_TASK_COMPLETE: PropDef = task("PidLidTaskComplete", 0x811C, Boolean);

// PSETID_Common.
const fn common(name: &'static str, id: u16, ty: PropType) -> PropDef {
    def(lid(name, PropSet::Common, id), ty)
}
pub const PID_LID_BILLING: PropDef = common("PidLidBilling", 0x8535, Unicode);
pub const PID_LID_COMPANIES: PropDef = common("PidLidCompanies", 0x8539, MvUnicode);
pub const PID_LID_CONTACTS: PropDef = common("PidLidContacts", 0x853A, MvUnicode);

// PS_PUBLIC_STRINGS.
pub const PID_NAME_KEYWORDS: PropDef = def(
    Mapi {
        name: "PidNameKeywords",
        id: MapiId::Name(PropSet::PublicStrings, "Keywords"),
    },
    MvUnicode,
);

/// Every property above.
pub const ALL: &[PropDef] = &[
    PID_TAG_MESSAGE_CLASS,
    PID_TAG_IMPORTANCE,
    PID_TAG_SUBJECT,
    PID_TAG_BODY,
    PID_TAG_DISPLAY_NAME,
    PID_TAG_CREATION_TIME,
    PID_TAG_LAST_MODIFICATION_TIME,
    PID_TAG_GIVEN_NAME,
    PID_TAG_BUSINESS_TELEPHONE_NUMBER,
    PID_TAG_HOME_TELEPHONE_NUMBER,
    PID_TAG_SURNAME,
    PID_TAG_COMPANY_NAME,
    PID_TAG_TITLE,
    PID_TAG_DEPARTMENT_NAME,
    PID_TAG_OFFICE_LOCATION,
    PID_TAG_MOBILE_TELEPHONE_NUMBER,
    PID_TAG_OTHER_TELEPHONE_NUMBER,
    PID_TAG_BUSINESS_FAX_NUMBER,
    PID_TAG_BUSINESS_HOME_PAGE,
    PID_LID_FILE_UNDER,
    PID_LID_WORK_ADDRESS_STREET,
    PID_LID_WORK_ADDRESS_CITY,
    PID_LID_WORK_ADDRESS_STATE,
    PID_LID_WORK_ADDRESS_POSTAL_CODE,
    PID_LID_WORK_ADDRESS_COUNTRY,
    PID_LID_CONTACT_USER_FIELD1,
    PID_LID_EMAIL1_DISPLAY_NAME,
    PID_LID_EMAIL1_ADDRESS_TYPE,
    PID_LID_EMAIL1_EMAIL_ADDRESS,
    PID_LID_EMAIL1_ORIGINAL_DISPLAY_NAME,
    PID_LID_EMAIL2_DISPLAY_NAME,
    PID_LID_EMAIL2_ADDRESS_TYPE,
    PID_LID_EMAIL2_EMAIL_ADDRESS,
    PID_LID_EMAIL2_ORIGINAL_DISPLAY_NAME,
    PID_LID_TASK_STATUS,
    PID_LID_PERCENT_COMPLETE,
    PID_LID_TASK_START_DATE,
    PID_LID_TASK_DUE_DATE,
    PID_LID_TASK_DATE_COMPLETED,
    PID_LID_TASK_COMPLETE,
    PID_LID_BILLING,
    PID_LID_COMPANIES,
    PID_LID_CONTACTS,
    PID_NAME_KEYWORDS,
];

/// The definition of a property by its id.
pub fn def_of(id: MapiId) -> Option<&'static PropDef> {
    ALL.iter().find(|d| d.mapi.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields;
    use std::collections::HashSet;

    #[test]
    fn the_field_tables_mapi_column_uses_these_properties_by_the_same_names() {
        let mut n = 0;
        for f in fields::all() {
            let Some(m) = f.mapi else { continue };
            let d = def_of(m.id).unwrap_or_else(|| panic!("{}.{}: {m} unknown", f.kind, f.name));
            assert_eq!(d.mapi, m, "{}.{}", f.kind, f.name);
            n += 1;
        }
        assert!(n > 40, "{n} MAPI fields");
    }

    #[test]
    fn ids_and_names_are_unique() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for d in ALL {
            assert!(ids.insert(d.mapi.id), "{} twice", d.mapi);
            assert!(names.insert(d.mapi.name), "{} twice", d.mapi.name);
            assert!(d.mapi.name.starts_with("Pid"), "{}", d.mapi.name);
            match d.mapi.id {
                MapiId::Tag(t) => assert!(t < 0x8000, "{}", d.mapi),
                MapiId::Lid(_, l) => assert!(l >= 0x8000, "{}", d.mapi),
                MapiId::Name(..) => {}
            }
        }
        assert_eq!(PID_TAG_SUBJECT.tag_id(), 0x0037);
    }
}
